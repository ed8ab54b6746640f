"""Results -> tidy DataFrame -> Pareto fronts, budget tables, figures and reports.

``load`` (read + validate results), ``pareto`` (fronts, hypervolume), ``budgets`` (best AUC at
fixed budgets), ``figures`` (every figure), ``report`` (report.md/.html), ``style`` (colours,
axes, saving), ``tables`` (markdown/HTML), ``artifacts`` (where per-dataset arrays and the
environment are stored), ``notebook`` (helpers for ``analysis/notebooks``).
"""
