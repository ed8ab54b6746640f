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
# # PEP: pruning over training, and granularity × threshold init
# Nonzeros over search steps from each PEP trial's trace, and a heat map of the retrained test
# AUC per (granularity, init) at a budget stated in the figure title.

# %%
from analysis import notebook
from analysis.figures import pep_dynamics_figure, pep_heatmap_figure
from analysis.load import load_results

# %% tags=["parameters"]
RESULTS = notebook.results_dir()
FIGURES = notebook.figures_dir()

# %%
df = load_results(RESULTS)
pep = df[df["method"] == "pep"]
print(f"{len(pep)} PEP rows, {pep['trace_path'].replace('', None).nunique()} search traces")

# %%
notebook.show([pep_dynamics_figure(df, FIGURES), pep_heatmap_figure(df, FIGURES)])
