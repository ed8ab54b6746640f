"""The built-in datasets as plugins (registered in pyproject.toml like any outside one).

Each one's parser module (and the table dataset's options class) is imported when first used,
not with this module: looking up ``criteo`` does not import the table reader (~20 ms).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, ClassVar

from autoembed.data.dataset import Dataset
from autoembed.data.options import AvazuOptions, CriteoOptions, MovieLensOptions


class _Lazy:
    """A class attribute imported on first access: ``module`` itself, or its ``attr``."""

    def __init__(self, module: str, attr: str | None = None) -> None:
        self.module, self.attr = module, attr

    def __get__(self, obj: object, owner: type) -> Any:
        module = importlib.import_module(self.module)
        return module if self.attr is None else getattr(module, self.attr)


class ParserDataset(Dataset):
    """A built-in dataset served by a parser module with ``raw_files`` and ``build``."""

    parser: ClassVar[Any]  # the module, through _Lazy
    files_need_options: ClassVar[bool] = False  # parser.raw_files(root, options)

    def raw_files(self, root: Path, options: Any) -> list[Path]:
        if self.files_need_options:
            return self.parser.raw_files(root, options)
        return self.parser.raw_files(root)

    def build(self, root: Path | None, options: Any, out_dir: Path, progress: bool = False) -> dict[str, Any]:
        return self.parser.build(root, options, out_dir, progress)


class MovieLens1M(ParserDataset):
    """MovieLens-1M ratings (rating > 3 is a click, 3 dropped) with user and movie attributes."""

    name, parser, Config = "ml-1m", _Lazy("autoembed.data.movielens"), MovieLensOptions
    how_to_get = ("run `autoembed data download ml-1m`, or unzip "
                  "https://files.grouplens.org/datasets/movielens/ml-1m.zip there")


class Criteo(ParserDataset):
    """Criteo Kaggle display advertising: 13 binned integer and 26 categorical fields."""

    name, parser, Config = "criteo", _Lazy("autoembed.data.criteo"), CriteoOptions
    how_to_get = "download the Criteo Kaggle display-advertising train.txt there (or pass --root FILE)"


class Avazu(ParserDataset):
    """Avazu Kaggle CTR: 22 categorical fields (id dropped, click is the label)."""

    name, parser, Config = "avazu", _Lazy("autoembed.data.avazu"), AvazuOptions
    how_to_get = "download the Avazu Kaggle CTR `train` file there (or pass --root FILE)"


class Synthetic(ParserDataset):
    """Generated data with known answers: planted embedding sizes and the Bayes AUC ceiling."""

    name, parser = "synthetic", _Lazy("autoembed.data.synthetic")
    Config = _Lazy("autoembed.data.synthetic", "SyntheticOptions")
    generated = True


class Table(ParserDataset):
    """Any CSV/TSV/Parquet log (plus side tables joined by key), described by a schema file."""

    name, parser = "table", _Lazy("autoembed.data.table")
    Config = _Lazy("autoembed.data.table", "TableOptions")
    how_to_get = _Lazy("autoembed.data.table", "HOW_TO_GET")
    files_need_options = True
