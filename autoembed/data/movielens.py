"""MovieLens-1M from the GroupLens ``.dat`` files as the CTR task of the benchmarks.

Drop rating 3; label = rating > 3; fields user_id, movie_id, gender, age, occupation, zip,
release year (from the title) and genres (the whole genre string). The timestamp is not a
feature; an empty timestamp is valid and counted in ``parse_report["notes"]["empty_timestamp"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoembed.data.lines import (
    iter_line_chunks,
    record_bad_values,
    split_columns,
    to_integers,
)
from autoembed.data.options import MovieLensOptions
from autoembed.data.report import ParseReport
from autoembed.data.vocab import encode_columns, offsets_of

RAW_FILES = ("ratings.dat", "users.dat", "movies.dat")
FIELDS = ("user_id", "movie_id", "gender", "age", "occupation", "zip", "year", "genres")
ENCODING = "latin1"
SEP = b"::"


def raw_files(root: Path) -> list[Path]:
    return [root / name for name in RAW_FILES]


def _read(
    path: Path, names: list[str], int_columns: list[str], report: ParseReport,
    opts: MovieLensOptions, progress: bool,
) -> list[tuple[pd.DataFrame, np.ndarray]]:
    """All well-formed lines of ``path`` (integer columns parsed) and their line numbers."""
    chunks = []
    for first, lines in iter_line_chunks(path, opts.chunk_bytes, progress):
        with report.chunk():
            cols = split_columns(lines, first, SEP, names, report, path.name, ENCODING)
            keep = np.ones(len(cols), dtype=bool)
            parsed = {}
            for name in int_columns:
                values = cols.column(name)
                numbers, bad = to_integers(values)
                missing = np.isnan(numbers) & ~bad
                if name != "timestamp":
                    bad |= missing
                record_bad_values(cols, bad & keep, values, name, f"non-numeric {name}",
                                  report, path.name)
                keep &= ~bad
                if name == "rating":
                    out_of_range = keep & ~np.isin(numbers, [1, 2, 3, 4, 5])
                    record_bad_values(cols, out_of_range, values, name, "rating not in 1..5",
                                      report, path.name)
                    keep &= ~out_of_range
                if name == "timestamp":
                    report.note("empty_timestamp", int((missing & keep).sum()))
                parsed[name] = numbers
        frame = pd.DataFrame({n: parsed[n] if n in parsed else cols.column(n).to_pandas()
                              for n in names})
        chunks.append((frame[keep].reset_index(drop=True), cols.line_numbers[keep]))
    return chunks


def _lookup_table(
    chunks: list[tuple[pd.DataFrame, np.ndarray]], key: str, report: ParseReport, file: str
) -> pd.DataFrame:
    table = pd.concat([frame for frame, _ in chunks], ignore_index=True)
    numbers = np.concatenate([n for _, n in chunks])
    dup = table[key].duplicated().to_numpy()
    if dup.any():
        report.record_bad(file, numbers[dup], ["duplicate id"] * int(dup.sum()),
                          [f"{key} {int(v)} already defined" for v in table[key][dup]])
    return table[~dup].set_index(key)


def build(root: Path, opts: MovieLensOptions, out_dir: Path, progress: bool = False) -> dict[str, Any]:
    """Parse the three files in ``root`` into ``out_dir`` arrays; returns the meta."""
    report = ParseReport(strict=opts.strict)
    users = _lookup_table(
        _read(root / "users.dat", ["user_id", "gender", "age", "occupation", "zip"],
              ["user_id"], report, opts, progress), "user_id", report, "users.dat")
    movies = _lookup_table(
        _read(root / "movies.dat", ["movie_id", "title", "genres"], ["movie_id"], report, opts,
              progress), "movie_id", report, "movies.dat")
    movies["year"] = movies["title"].str.extract(r"\((\d{4})\)\s*$", expand=False)

    ratings_chunks = _read(root / "ratings.dat", ["user_id", "movie_id", "rating", "timestamp"],
                           ["user_id", "movie_id", "rating", "timestamp"], report, opts, progress)
    kept = []
    for frame, _ in ratings_chunks:
        neutral = frame["rating"].to_numpy() == 3
        report.note("rating_3_dropped", int(neutral.sum()))
        kept.append(frame.loc[~neutral, ["user_id", "movie_id", "rating"]])
    ratings = pd.concat(kept, ignore_index=True)
    report.rows = len(ratings)

    user_rows = users.reindex(ratings["user_id"])
    movie_rows = movies.reindex(ratings["movie_id"])
    report.note("unknown_user", int(user_rows["gender"].isna().sum()))
    report.note("unknown_movie", int(movie_rows["genres"].isna().sum()))
    report.note("no_release_year", int(movie_rows["year"].isna().sum()))
    columns = {
        "user_id": ratings["user_id"].astype(np.int64),
        "movie_id": ratings["movie_id"].astype(np.int64),
        **{f: user_rows[f].reset_index(drop=True) for f in ("gender", "age", "occupation", "zip")},
        **{f: movie_rows[f].reset_index(drop=True) for f in ("year", "genres")},
    }
    local, vocab_sizes = encode_columns(columns, opts.min_count)
    ids = (local + offsets_of(vocab_sizes)).astype(np.int32)
    np.save(out_dir / "ids.npy", ids)
    np.save(out_dir / "labels.npy", (ratings["rating"].to_numpy() > 3).astype(np.float32))
    np.save(out_dir / "feature_counts.npy",
            np.bincount(ids.ravel(), minlength=sum(vocab_sizes)).astype(np.int64))
    return {"field_names": list(FIELDS), "vocab_sizes": vocab_sizes,
            "parse_report": report.to_dict()}
