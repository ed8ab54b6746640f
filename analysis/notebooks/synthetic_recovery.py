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
# # Synthetic data: recovery of planted sizes and the gap to the Bayes AUC
# On synthetic data the truth is known: each feature's planted size and the teacher's own AUC.
# Needs `artifacts/<dataset>/planted_dims.npy` and rows with `bayes_auc`.

# %%
from analysis import notebook
from analysis.figures import synthetic_recovery_figure, synthetic_scores, synthetic_scores_figure
from analysis.load import load_results

# %% tags=["parameters"]
RESULTS = notebook.results_dir()
FIGURES = notebook.figures_dir()

# %%
df = load_results(RESULTS)
synthetic_scores(df[df["bayes_auc"].notna()])

# %%
notebook.show([synthetic_recovery_figure(df, FIGURES), synthetic_scores_figure(df, FIGURES)])
