"""One look for every figure: a fixed colour per method, log-axis ticks, and saving PNG + SVG."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files, never shown

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

# Fixed colours for the in-tree methods (colour-blind-safe Okabe-Ito palette).
METHOD_COLOURS: dict[str, str] = {
    "pep": "#D55E00",  # vermillion: the reference method stands out
    "pep-prefix": "#56B4E9",  # PEP's sizes, retrained with aligned dims (retrain_mask=prefix)
    "uniform": "#000000",
    "mde": "#0072B2",
    "autoemb": "#009E73",
    "autodim": "#CC79A7",
    "qr_hash": "#E69F00",
}
METHOD_LABELS: dict[str, str] = {
    "pep": "PEP",
    "pep-prefix": "PEP (aligned retrain)",
    "uniform": "Uniform",
    "mde": "MDE",
    "autoemb": "AutoEmb",
    "autodim": "AutoDim",
    "qr_hash": "QR hashing",
}
METHOD_MARKERS: dict[str, str] = {
    "pep": "o",
    "pep-prefix": "h",
    "uniform": "s",
    "mde": "^",
    "autoemb": "D",
    "autodim": "v",
    "qr_hash": "P",
}
_PLUGIN_MARKERS = ("X", "*", "<", ">", "p", "d")

# Which order methods are listed in (known first, plugins after, alphabetically).
KNOWN_ORDER = tuple(METHOD_COLOURS)

FIGURE_FORMATS: tuple[str, ...] = ("png", "svg")
PNG_DPI = 130


def _hash_index(name: str, modulo: int) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % modulo


def method_colour(method: str) -> str:
    """The method's colour: fixed for known methods, a deterministic hash-based one for plugins."""
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    cmap = plt.get_cmap("tab20")
    r, g, b, _ = cmap(_hash_index(method, cmap.N))
    return f"#{int(r * 255):02X}{int(g * 255):02X}{int(b * 255):02X}"


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def method_marker(method: str) -> str:
    return METHOD_MARKERS.get(method) or _PLUGIN_MARKERS[_hash_index(method, len(_PLUGIN_MARKERS))]


def ordered_methods(methods) -> list[str]:
    """Methods in a stable order: the in-tree ones as listed above, then plugins A-Z."""
    unique = set(methods)
    return [m for m in KNOWN_ORDER if m in unique] + sorted(unique - set(KNOWN_ORDER))


def apply_style() -> None:
    """Readable defaults: sizes that survive a slide, light grid, no top/right spines."""
    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.fonttype": "none",  # text stays text in SVG (small, searchable)
            "svg.hashsalt": "autoembed",  # deterministic SVG ids
        }
    )


def _plain(value: float, _pos: int = 0) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def log_axis(ax: Axes, which: str = "x") -> None:
    """Log scale on ``which`` axis (call after plotting): decade major ticks, 2 and 5 minor
    ticks, labels as plain numbers (``2,500``); minor ticks are labelled only when the data
    spans less than a decade (otherwise they would crowd)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    low, high = ax.get_xlim() if which == "x" else ax.get_ylim()
    axis.set_major_locator(LogLocator(base=10))
    axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0) if high / max(low, 1e-12) >= 10
                                      else (2.0, 3.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_formatter(FuncFormatter(_plain) if high / max(low, 1e-12) < 10 else NullFormatter())
    ax.grid(True, which="major", axis=which, alpha=0.35)
    ax.grid(True, which="minor", axis=which, alpha=0.12)


def save_figure(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.svg`` under ``out_dir``; close it; return paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tight_layout warns on some legends; harmless
        fig.tight_layout()
    paths = []
    for fmt in FIGURE_FORMATS:
        path = out_dir / f"{stem}.{fmt}"
        fig.savefig(path, dpi=PNG_DPI, bbox_inches="tight", metadata={"Date": None}
                    if fmt == "svg" else None)
        paths.append(path)
    plt.close(fig)
    return paths


def panel_grid(n: int, *, max_cols: int = 3, size: tuple[float, float] = (5.2, 3.8)):
    """A figure with ``n`` panels in a grid (at most ``max_cols`` columns); unused axes hidden."""
    cols = max(1, min(n, max_cols))
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]
