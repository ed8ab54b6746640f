"""Tables as text: markdown and HTML renderings of small DataFrames (no extra dependencies)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd


def format_cell(value, digits: int = 4) -> str:
    """Floats with ``digits`` significant decimals (large ones with thousands separators)."""
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "–"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, (int, np.integer)) and abs(int(value)) >= 10000:
        return f"{int(value):,}"
    return str(value)


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured markdown table of ``df`` (index dropped)."""
    if df.empty:
        return "_(no rows)_"
    header = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(format_cell(v, digits).replace("|", "\\|") for v in row) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def html_table(df: pd.DataFrame, digits: int = 4) -> str:
    """An HTML ``<table>`` of ``df`` (index dropped), cells escaped."""
    if df.empty:
        return "<p><em>(no rows)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(format_cell(v, digits))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
