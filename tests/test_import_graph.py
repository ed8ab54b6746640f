"""The core flows one way: ``autoembed`` never imports ``analysis``; ``analysis`` reads only the
results schema (``autoembed.results``); ``data`` imports nothing downstream of it.

``python tests/test_import_graph.py`` prints the graph (which package imports which)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = ("autoembed", "analysis", "baselines")
# data is upstream of everything but the configs, the validator, the plugin registry and the progress bar
DATA_MAY_IMPORT = {"autoembed.data", "autoembed.config", "autoembed.typed", "autoembed.plugins",
                   "autoembed.progress"}


def unit(module: str) -> str:
    """The graph node of a module: ``autoembed.<part>`` inside the core, else its top package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "autoembed" and len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at top level or inside functions (absolute names)."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return {m for m in found if m.split(".")[0] in TOP}


def import_graph() -> dict[str, set[str]]:
    """Graph node -> the nodes it imports (itself left out)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for top in TOP:
        for path in sorted((ROOT / top).rglob("*.py")):
            source = unit(module_name(path))
            graph[source] |= {unit(m) for m in imports_of(path)} - {source}
    return dict(graph)


def edges_from(prefix: str) -> dict[str, set[str]]:
    return {k: v for k, v in import_graph().items() if k == prefix or k.startswith(prefix + ".")}


def test_the_core_never_imports_analysis() -> None:
    bad = {k: v & {"analysis"} for k, v in edges_from("autoembed").items() if "analysis" in v}
    assert bad == {}


def test_analysis_reads_only_the_results_schema() -> None:
    core = {m for m in import_graph()["analysis"] if m.startswith("autoembed")}
    assert core == {"autoembed.results"}


def test_data_imports_nothing_downstream() -> None:
    assert import_graph()["autoembed.data"] <= DATA_MAY_IMPORT


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    assert "autoembed.results.reporting" in imports_of(ROOT / "autoembed" / "study.py")
    assert "autoembed.training" in import_graph()["autoembed.experiment"]


if __name__ == "__main__":
    for node, targets in sorted(import_graph().items()):
        print(f"{node:<22} -> {', '.join(sorted(targets)) or '(nothing)'}")
