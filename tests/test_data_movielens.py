"""MovieLens-1M: the CTR task on the real files, and hand-made malformed lines."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from autoembed.config import DataConfig
from autoembed.data import MalformedLineError, load_dataset


@pytest.fixture(scope="module")
def ml1m(ml1m_dir, tmp_path_factory):
    return load_dataset(DataConfig(name="ml-1m", root=str(ml1m_dir),
                                   cache_dir=str(tmp_path_factory.mktemp("cache"))))


def test_ml1m_ctr_task(ml1m):
    assert ml1m.num_rows == 739_012
    assert ml1m.field_names == ("user_id", "movie_id", "gender", "age", "occupation", "zip",
                                "year", "genres")
    assert int(np.asarray(ml1m.labels).sum()) == 575_281
    assert ml1m.ids.dtype == np.int32 and ml1m.labels.dtype == np.float32
    report = ml1m.meta["parse_report"]
    assert report["notes"]["empty_timestamp"] == 199_435
    assert report["notes"]["rating_3_dropped"] == 261_197
    assert report["skipped"] == 0
    assert ml1m.vocab_sizes[2] == 3  # OOV + F + M
    assert ml1m.vocab_sizes[0] == 6041  # every user has a non-3 rating


def test_ml1m_field_partitions_match_a_plain_reading(ml1m, ml1m_dir):
    """Each field's feature counts equal those of an independent plain-Python parse."""
    users = {}
    for line in (ml1m_dir / "users.dat").read_text("latin-1").splitlines():
        uid, gender, age, occ, zipcode = line.split("::")
        users[uid] = (gender, age, occ, zipcode)
    movies = {}
    for line in (ml1m_dir / "movies.dat").read_text("latin-1").splitlines():
        mid, title, genres = line.split("::")
        movies[mid] = (title.rstrip()[-5:-1], genres)
    expected = {name: Counter() for name in ("gender", "zip", "year", "genres")}
    for line in (ml1m_dir / "ratings.dat").read_text("latin-1").splitlines():
        uid, mid, rating, _ = line.split("::")
        if rating == "3":
            continue
        expected["gender"][users[uid][0]] += 1
        expected["zip"][users[uid][3]] += 1
        expected["year"][movies[mid][0]] += 1
        expected["genres"][movies[mid][1]] += 1
    counts = np.asarray(ml1m.feature_counts)
    offsets = ml1m.field_offsets
    for name, counter in expected.items():
        f = ml1m.field_names.index(name)
        got = counts[offsets[f] + 1 : offsets[f] + ml1m.vocab_sizes[f]]
        assert counts[offsets[f]] == 0, f"{name}: no row should be OOV"
        assert sorted(got.tolist(), reverse=True) == sorted(counter.values(), reverse=True), name


def _write_ml(root: Path, ratings: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n", "latin-1")
    (root / "movies.dat").write_text(
        "1::Toy Story (1995)::Animation|Comedy\n2::Café (2000)::Drama\n", "latin-1")
    (root / "ratings.dat").write_text("\n".join(ratings) + "\n", "latin-1")
    return root


BAD_RATINGS = [
    "1::1::5::978300760",  # 1 ok
    "1::2::3::",  # 2 ok (rating 3: dropped by the task), empty timestamp
    "2::1::4",  # 3 wrong field count
    "x::1::4::978300760",  # 4 non-numeric user
    "2::2::7::978300760",  # 5 rating out of range
    "2::2::1::",  # 6 ok, empty timestamp
]


def test_ml1m_malformed_lines_counted_with_line_numbers(tmp_path):
    root = _write_ml(tmp_path / "ml", BAD_RATINGS)
    data = load_dataset(DataConfig(name="ml-1m", root=str(root), cache_dir=str(tmp_path / "c")))
    report = data.meta["parse_report"]
    assert data.num_rows == 2
    assert data.labels.tolist() == [1.0, 0.0]
    assert report["skipped_by_reason"] == {"wrong field count": 1, "non-numeric user_id": 1,
                                           "rating not in 1..5": 1}
    assert [(e["file"], e["line"]) for e in report["first_bad_lines"]] == [
        ("ratings.dat", 3), ("ratings.dat", 4), ("ratings.dat", 5)]
    assert report["notes"]["empty_timestamp"] == 2
    # the latin-1 title parses and the year comes from it
    year = data.field_names.index("year")
    assert len(set(np.asarray(data.ids)[:, year].tolist())) == 2


def test_ml1m_strict_raises_on_first_bad_line(tmp_path):
    root = _write_ml(tmp_path / "ml", BAD_RATINGS)
    cfg = DataConfig(name="ml-1m", root=str(root), cache_dir=str(tmp_path / "c"),
                     options={"strict": True})
    with pytest.raises(MalformedLineError, match=r"ratings.dat, line 3: wrong field count"):
        load_dataset(cfg)
