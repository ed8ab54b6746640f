# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Best test AUC at fixed parameter budgets
# Budgets are fractions of the dense uniform table; within each, the configuration with the best
# mean validation AUC is chosen and its test AUC shown (mean ± std / 95% CI over seeds).

# %%
from analysis import notebook
from analysis.budgets import best_at_budgets, budget_pivot, write_budget_tables
from analysis.figures import budget_figure
from analysis.load import load_results

# %% tags=["parameters"]
RESULTS = notebook.results_dir()
FIGURES = notebook.figures_dir()
BUDGETS = (0.05, 0.10, 0.25, 1.00)

# %%
df = load_results(RESULTS)
table = best_at_budgets(df, BUDGETS)
print("wrote", *write_budget_tables(table, FIGURES))
budget_pivot(table, BUDGETS)

# %%
notebook.show([budget_figure(df, FIGURES, BUDGETS)])

# %%
table[["dataset", "model", "budget", "method", "point", "hparams_json", "params", "test_auc",
       "test_auc_ci95", "n_seeds"]]
