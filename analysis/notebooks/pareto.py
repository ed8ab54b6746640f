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
# # Pareto fronts: test AUC against parameters, storage and training time
# Every trial is a point; each method's front is a step line; one panel per dataset × model.
# Methods are also ranked by the hypervolume of their front (log10 cost × AUC, shared reference).

# %%
from analysis import notebook
from analysis.figures import pareto_figure
from analysis.load import load_results
from analysis.pareto import config_means, hypervolume_table, overall_fronts

# %% tags=["parameters"]
RESULTS = notebook.results_dir()  # or: Path("path/to/experiment")
FIGURES = notebook.figures_dir()

# %%
df = load_results(RESULTS)
print(f"{len(df)} rows, {int(df['ok'].sum())} ok, methods: {sorted(df['method'].unique())}")

# %%
notebook.show([pareto_figure(df, FIGURES, x) for x in ("params", "storage_bytes", "train_seconds")])

# %%
overall_fronts(config_means(df))[["dataset", "model", "method", "point", "n_seeds", "params", "test_auc"]]

# %%
hypervolume_table(df)
