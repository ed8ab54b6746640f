"""The built-in datasets as plugins (registered in pyproject.toml like any outside one)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from autoembed.data import avazu, criteo, movielens, synthetic, table
from autoembed.data.dataset import Dataset


class ParserDataset(Dataset):
    """A built-in dataset served by a parser module with ``raw_files`` and ``build``."""

    parser: ClassVar[ModuleType]
    files_need_options: ClassVar[bool] = False  # parser.raw_files(root, options)

    def raw_files(self, root: Path, options: Any) -> list[Path]:
        if self.files_need_options:
            return self.parser.raw_files(root, options)
        return self.parser.raw_files(root)

    def build(self, root: Path | None, options: Any, out_dir: Path, progress: bool = False) -> dict[str, Any]:
        return self.parser.build(root, options, out_dir, progress)


class MovieLens1M(ParserDataset):
    """MovieLens-1M ratings (rating > 3 is a click, 3 dropped) with user and movie attributes."""

    name, parser, Config = "ml-1m", movielens, movielens.MovieLensOptions
    how_to_get = ("run `autoembed data download ml-1m`, or unzip "
                  "https://files.grouplens.org/datasets/movielens/ml-1m.zip there")


class Criteo(ParserDataset):
    """Criteo Kaggle display advertising: 13 binned integer and 26 categorical fields."""

    name, parser, Config = "criteo", criteo, criteo.CriteoOptions
    how_to_get = "download the Criteo Kaggle display-advertising train.txt there (or pass --root FILE)"


class Avazu(ParserDataset):
    """Avazu Kaggle CTR: 22 categorical fields (id dropped, click is the label)."""

    name, parser, Config = "avazu", avazu, avazu.AvazuOptions
    how_to_get = "download the Avazu Kaggle CTR `train` file there (or pass --root FILE)"


class Synthetic(ParserDataset):
    """Generated data with known answers: planted embedding sizes and the Bayes AUC ceiling."""

    name, parser, Config = "synthetic", synthetic, synthetic.SyntheticOptions
    generated = True


class Table(ParserDataset):
    """Any CSV/TSV/Parquet log (plus side tables joined by key), described by a schema file."""

    name, parser, Config = "table", table, table.TableOptions
    how_to_get = table.HOW_TO_GET
    files_need_options = True
