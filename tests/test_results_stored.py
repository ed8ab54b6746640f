"""The study's stored results (``results/``) agree with the report, tables and README built from
them: regenerating from ``results/results.csv`` gives the stored numbers, and every row of the
README's study tables is a row the stored results produce. Skipped where no study is stored."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.budgets import best_at_budgets, budget_pivot
from analysis.figures import synthetic_scores
from analysis.load import load_results
from analysis.tables import markdown_table
from autoembed.results import REQUIRED_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
CSV = RESULTS / "results.csv"

pytestmark = pytest.mark.skipif(not CSV.is_file(), reason="no stored study (results/results.csv)")


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return load_results(CSV)


def readme_block(name: str) -> list[str]:
    """Table rows between ``<!-- name -->`` and ``<!-- /name -->`` in the README."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {name} -->(.*?)<!-- /{name} -->", text, re.S)
    assert match, f"README has no <!-- {name} --> block"
    return [ln.strip() for ln in match.group(1).splitlines() if ln.strip().startswith("| ")]


def test_stored_results_are_complete(df: pd.DataFrame) -> None:
    assert set(REQUIRED_COLUMNS) <= set(df.columns)
    assert df["ok"].mean() > 0.95
    assert (df.loc[~df["ok"], "error"].str.len() > 0).all()  # a failed row says why
    ml1m = df[(df["dataset"] == "ml-1m") & df["ok"]]
    assert set(ml1m["model"]) == {"fm", "deepfm", "autoint"}
    assert ml1m.groupby(["model", "method"])["seed"].nunique().min() == 3


def test_budget_table_regenerates_from_the_csv(df: pd.DataFrame) -> None:
    stored = pd.read_csv(RESULTS / "budgets.csv")
    again = best_at_budgets(df)
    key = ["dataset", "model", "budget", "method"]
    merged = stored.merge(again, on=key, suffixes=("_stored", "_again"), validate="one_to_one")
    assert len(merged) == len(stored) == len(again)
    pd.testing.assert_series_equal(merged["test_auc_stored"], merged["test_auc_again"],
                                   check_names=False, rtol=1e-9)


def test_readme_budget_table_is_what_the_results_show(df: pd.DataFrame) -> None:
    regenerated = markdown_table(budget_pivot(best_at_budgets(df))).splitlines()
    rows = readme_block("study-budgets")
    assert len(rows) > 2
    for row in rows[2:]:  # the header and rule rows are the README's own
        assert row in regenerated, f"README row not produced by results/results.csv: {row}"


def test_readme_synthetic_table_is_what_the_results_show(df: pd.DataFrame) -> None:
    scores = synthetic_scores(df[df["ok"]])
    regenerated = markdown_table(scores[["dataset", "method", "point", "test_auc", "bayes_auc",
                                         "gap", "recovery"]]).splitlines()
    for row in readme_block("study-synthetic")[2:]:
        assert row in regenerated, f"README row not produced by results/results.csv: {row}"


def test_readme_figure_exists() -> None:
    text = (ROOT / "README.md").read_text()
    for path in re.findall(r"\]\((results/figures/[^)]+)\)", text):
        assert (ROOT / path).is_file(), path
