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
# # Learned size per feature vs feature frequency
# For PEP, MDE, AutoEmb (and any method whose sizes vary): each feature's learned size against
# its train-split frequency (log x). Needs `artifacts/<dataset>/feature_counts.npy`.

# %%
from analysis import notebook
from analysis.figures import representative_rows, sizes_vs_frequency_figure
from analysis.load import load_results

# %% tags=["parameters"]
RESULTS = notebook.results_dir()
FIGURES = notebook.figures_dir()

# %%
df = load_results(RESULTS)
representative_rows(df)[["dataset", "model", "method", "point", "params", "val_auc"]]

# %%
notebook.show([sizes_vs_frequency_figure(df, FIGURES)])
