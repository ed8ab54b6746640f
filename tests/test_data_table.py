"""The ``table`` dataset: schema checks, bad input, joins, splits, bucketing, formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from autoembed.cli import main
from autoembed.config import DataConfig
from autoembed.data import MalformedLineError, load_dataset
from autoembed.data.base import data_split, split_indices
from autoembed.data.table.schema import parse_schema
from autoembed.data.tabular import integer_keys

SCHEMA = {
    "files": {"log": "log.csv", "users": "users.csv", "items": "items.tsv"},
    "join": [{"table": "users", "on": "user_id"}, {"table": "items", "on": "item_id"}],
    "label": {"column": "rating", "positive": "> 3", "drop": "== 3"},
    "categorical": ["user_id", "item_id", "gender"],
    "numeric": {"price": {"buckets": "log_square"}},
    "multi_valued": {"tags": {"sep": "|", "as": "first"}},
}


def write_tables(folder: Path, n: int = 400, seed: int = 0) -> Path:
    """A log (CSV) + users (CSV) + items (TSV) with ``n`` log rows."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    log = pd.DataFrame({
        "user_id": rng.integers(0, 20, n), "item_id": rng.integers(0, 30, n),
        "rating": rng.integers(1, 6, n), "ts": rng.integers(1000, 2000, n),
    })
    log.to_csv(folder / "log.csv", index=False)
    pd.DataFrame({"user_id": range(20), "gender": rng.choice(["F", "M"], 20)}).to_csv(
        folder / "users.csv", index=False)
    pd.DataFrame({"item_id": range(30), "price": rng.integers(0, 500, 30),
                  "tags": [f"t{i % 4}|x{i}" for i in range(30)]}).to_csv(
        folder / "items.tsv", index=False, sep="\t")
    return folder


def load(folder: Path, schema: dict | str, tmp_path: Path, **options):
    return load_dataset(DataConfig("table", root=str(folder),
                                   options={"schema": schema, **options},
                                   cache_dir=str(tmp_path / "cache")))


def test_join_label_rule_and_features_match_a_pandas_reading(tmp_path):
    folder = write_tables(tmp_path / "d")
    data = load(folder, SCHEMA, tmp_path)
    log = pd.read_csv(folder / "log.csv")
    kept = log[log.rating != 3].reset_index(drop=True)
    assert data.num_rows == len(kept)
    np.testing.assert_array_equal(data.labels, (kept.rating > 3).astype(np.float32))
    assert data.field_names == ("user_id", "item_id", "gender", "price", "tags")
    items = pd.read_csv(folder / "items.tsv", sep="\t").set_index("item_id")
    users = pd.read_csv(folder / "users.csv").set_index("user_id")
    local = np.asarray(data.ids) - data.field_offsets
    # Equal values get equal ids, distinct values distinct ids, per field.
    expected = {
        "gender": users.gender.reindex(kept.user_id).to_numpy(),
        "tags": items.tags.reindex(kept.item_id).str.split("|").str[0].to_numpy(),
        "price": integer_keys(items.price.reindex(kept.item_id).to_numpy(np.float64)),
    }
    for name, values in expected.items():
        f = data.field_names.index(name)
        pairs = set(zip(values.tolist(), local[:, f].tolist(), strict=True))
        assert len(pairs) == len(set(values.tolist())) == len(set(local[:, f].tolist())), name
    report = data.meta["parse_report"]
    assert report["notes"]["label_dropped"] == int((log.rating == 3).sum())
    assert report["skipped"] == 0


def test_random_split_is_split_indices_and_time_split_orders_rows(tmp_path):
    folder = write_tables(tmp_path / "d", n=1000)
    data = load(folder, SCHEMA, tmp_path)
    split, expected = data_split(data, 0), split_indices(data.num_rows, 2021)
    for a, b in zip((split.train, split.val, split.test), (expected.train, expected.val, expected.test),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    log = pd.read_csv(folder / "log.csv")
    log.loc[:9, "ts"] = None  # ten empty timestamps
    log.to_csv(folder / "log.csv", index=False)
    by_time = {**SCHEMA, "split": {"by": "ts"}}
    timed = load(folder, by_time, tmp_path)
    kept = log[(log.rating != 3) & log.ts.notna()].reset_index(drop=True)
    assert timed.num_rows == len(kept)
    assert timed.meta["parse_report"]["notes"]["empty_ts"] == int((log.rating[:10] != 3).sum())
    parts = data_split(timed, 0)
    ts = kept.ts.to_numpy()
    assert ts[parts.train].max() < ts[parts.val].min() <= ts[parts.val].max() < ts[parts.test].min()
    assert abs(len(parts.train) / len(ts) - 0.8) < 0.05
    kept_in_train = load(folder, {**SCHEMA, "split": {"by": "ts", "empty": "train"}}, tmp_path)
    assert kept_in_train.num_rows == int((log.rating != 3).sum())
    assert len(data_split(kept_in_train, 0).train) == len(parts.train) + (
        kept_in_train.num_rows - timed.num_rows)


def test_quantile_buckets_come_from_the_training_rows_only(tmp_path):
    n = 2000
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"y": rng.integers(0, 2, n), "v": rng.random(n), "c": rng.integers(0, 5, n)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    schema = {"label": {"column": "y"}, "categorical": ["c"],
              "numeric": {"v": {"buckets": "quantile", "n": 4}}}
    data = load(tmp_path / "t.csv", schema, tmp_path)
    bounds = np.asarray(data.meta["quantile_bounds"]["v"])
    train = split_indices(n, 2021).train
    np.testing.assert_allclose(bounds, np.quantile(frame.v.to_numpy()[train], [0.25, 0.5, 0.75]))
    # Changing only test rows' values does not move the edges.
    test = split_indices(n, 2021).test
    frame.loc[test, "v"] = 1e6
    frame.to_csv(tmp_path / "t.csv", index=False)
    again = load(tmp_path / "t.csv", schema, tmp_path)
    np.testing.assert_allclose(again.meta["quantile_bounds"]["v"], bounds)
    assert again.vocab_sizes[1] == 1 + 4 + 1  # OOV, four buckets, missing


def test_parquet_copy_gives_the_same_arrays_and_renames_apply(tmp_path):
    folder = write_tables(tmp_path / "d")
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    pd.read_csv(folder / "log.csv").rename(columns={"user_id": "user_id:token"}).to_parquet(
        pq_dir / "log.parquet")
    pd.read_csv(folder / "users.csv").to_parquet(pq_dir / "users.parquet")
    pd.read_csv(folder / "items.tsv", sep="\t").to_parquet(pq_dir / "items.parquet")
    types = {"user_id": "int", "item_id": "int"}
    text = load(folder, {**SCHEMA, "types": types}, tmp_path)
    parquet = load(pq_dir, {**SCHEMA, "types": types, "rename": {"user_id:token": "user_id"},
                            "files": {"log": "log.parquet", "users": "users.parquet",
                                      "items": "items.parquet"}}, tmp_path)
    assert parquet.vocab_sizes == text.vocab_sizes
    np.testing.assert_array_equal(parquet.ids, text.ids)
    np.testing.assert_array_equal(parquet.labels, text.labels)


def test_folder_of_parts_and_min_count_per_column(tmp_path):
    folder = write_tables(tmp_path / "d", n=600)
    log = pd.read_csv(folder / "log.csv")
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(3):
        log.iloc[i * 200:(i + 1) * 200].to_csv(parts / f"part-{i}.csv", index=False)
    schema = {"label": {"column": "rating", "positive": ">= 4"}, "categorical": ["user_id", "item_id"],
              "min_count": {"default": 1, "item_id": 25}}
    whole = load(folder / "log.csv", schema, tmp_path)
    split = load(parts, schema, tmp_path)
    np.testing.assert_array_equal(whole.ids, split.ids)
    assert whole.vocab_sizes[0] == 21
    assert whole.vocab_sizes[1] == 1 + int((log.item_id.value_counts() >= 25).sum())


def test_columns_name_a_headerless_file_or_replace_a_header(tmp_path):
    (tmp_path / "plain.txt").write_text("1::a\n0::b\n1::a\n")
    (tmp_path / "headed.csv").write_text("Click,Cat\n1,a\n0,b\n1,a\n")
    for name, spec in (("plain.txt", {"sep": "::", "columns": ["y", "c"]}),
                       ("headed.csv", {"columns": ["y", "c"], "header": True})):
        schema = {"files": {"log": {"path": name, **spec}}, "label": {"column": "y"},
                  "categorical": ["c"]}
        data = load(tmp_path, schema, tmp_path)
        assert data.num_rows == 3 and data.vocab_sizes == (3,), name
        np.testing.assert_array_equal(data.labels, [1, 0, 1])


def test_cache_key_covers_schema_and_content(tmp_path):
    folder = write_tables(tmp_path / "d")
    first = load(folder, SCHEMA, tmp_path)
    assert not first.meta["cache_hit"] and load(folder, SCHEMA, tmp_path).meta["cache_hit"]
    other = load(folder, {**SCHEMA, "min_count": 2}, tmp_path)
    assert other.meta["cache_path"] != first.meta["cache_path"]
    (folder / "users.csv").write_text((folder / "users.csv").read_text().replace(",F", ",W"))
    changed = load(folder, SCHEMA, tmp_path)
    assert not changed.meta["cache_hit"] and changed.meta["cache_path"] != first.meta["cache_path"]
    for part in ("a", "b"):  # two folders of parts with the same file names
        (folder / part).mkdir()
        pd.read_csv(folder / "log.csv").to_csv(folder / part / "0.csv", index=False)
    parts = {**SCHEMA, "files": {**SCHEMA["files"], "log": "*/0.csv"}}
    before = load(folder, parts, tmp_path)
    (folder / "a" / "0.csv").write_text((folder / "a" / "0.csv").read_text().replace(",5,", ",4,"))
    assert load(folder, parts, tmp_path).meta["cache_path"] != before.meta["cache_path"]


@pytest.mark.parametrize(("change", "message"), [
    ({"bogus": 1}, r"unknown key\(s\) \['bogus'\]"),
    ({"label": {"column": "rating", "positive": "above 3"}}, "not a rule"),
    ({"numeric": {"price": {"buckets": "log10"}}}, "expected one of 'log_square'"),
    ({"join": [{"table": "nope", "on": "user_id"}]}, "'nope' is not a side table"),
    ({"categorical": ["user_id", "user_id"]}, "listed under both"),
    ({"split": {"by": "ts", "fractions": [0.5, 0.5]}}, "three non-negative numbers"),
    ({"extract": {"y": {"column": "title", "regex": "[0-9]+"}}}, "one named group"),
    ({"min_count": {"zip": 3}}, "'zip' is not a feature column"),
])
def test_schema_mistakes_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        parse_schema({**SCHEMA, **change})


def test_missing_column_names_it_and_the_files(tmp_path):
    folder = write_tables(tmp_path / "d")
    with pytest.raises(ValueError, match=r"column 'genre' \(feature\).*log \(log.csv\).*users"):
        load(folder, {**SCHEMA, "categorical": ["user_id", "genre"]}, tmp_path)


def test_label_rule_matching_nothing_is_an_error(tmp_path):
    folder = write_tables(tmp_path / "d")
    with pytest.raises(ValueError, match=r"'rating > 7' matches no row of log \(log.csv\).*1 .. 5"):
        load(folder, {**SCHEMA, "label": {"column": "rating", "positive": "> 7"}}, tmp_path)
    with pytest.raises(ValueError, match=r"label.drop rule 'rating == 9' matches no row"):
        load(folder, {**SCHEMA, "label": {"column": "rating", "positive": "> 3", "drop": "== 9"}},
             tmp_path)


def test_join_without_any_match_is_an_error_and_partial_misses_are_counted(tmp_path):
    folder = write_tables(tmp_path / "d")
    users = pd.read_csv(folder / "users.csv")
    users.assign(user_id=users.user_id + 100).to_csv(folder / "users.csv", index=False)
    with pytest.raises(ValueError, match=r"join on 'user_id': no row of log \(log.csv\).*users.csv"):
        load(folder, SCHEMA, tmp_path)
    users.iloc[:10].to_csv(folder / "users.csv", index=False)
    data = load(folder, SCHEMA, tmp_path)
    log = pd.read_csv(folder / "log.csv")
    assert data.meta["parse_report"]["notes"]["unmatched_users"] == int(
        ((log.rating != 3) & (log.user_id >= 10)).sum())


def test_bad_lines_are_counted_skips_and_strict_fails_on_the_first(tmp_path):
    (tmp_path / "t.csv").write_text(
        "y,n,c\n1,5,a\n0,x7,b\n1,2,c,extra\n,3,d\n0,4,e\n1,6,f\n")
    schema = {"label": {"column": "y"}, "categorical": ["c"], "numeric": {"n": {"buckets": "log2"}}}
    data = load(tmp_path / "t.csv", schema, tmp_path)
    report = data.meta["parse_report"]
    assert data.num_rows == 3
    assert report["skipped_by_reason"] == {"empty label y": 1, "n is not float": 1,
                                           "wrong field count": 1}
    assert [(e["line"], e["detail"]) for e in report["first_bad_lines"]] == [
        (3, "n = 'x7'"), (4, "expected 3 ','-separated fields, found 4"), (5, "y = ''")]
    with pytest.raises(MalformedLineError, match="line 3: n is not float"):
        load(tmp_path / "t.csv", schema, tmp_path / "strict", strict=True)


def test_a_column_that_never_parses_is_an_error_naming_it(tmp_path):
    (tmp_path / "t.csv").write_text("y,uid\n1,a\n0,b\n")
    schema = {"label": {"column": "y"}, "categorical": ["uid"], "types": {"uid": "int"}}
    with pytest.raises(ValueError, match=r"no usable row in log \(t.csv\).*uid is not int"):
        load(tmp_path / "t.csv", schema, tmp_path)


def test_fields_and_drop_fields_on_a_builtin_dataset(tmp_path):
    def synthetic(**options):
        return load_dataset(DataConfig("synthetic", options={"scale": "tiny", **options},
                                       cache_dir=str(tmp_path / "cache")))

    full = synthetic()
    dropped = synthetic(drop_fields=["f00", "f02"])
    kept = synthetic(fields=["f01", "f03", "f04", "f05"])
    assert dropped.field_names == kept.field_names == ("f01", "f03", "f04", "f05")
    assert dropped.meta["cache_path"] != full.meta["cache_path"]
    assert kept.meta["cache_path"] != dropped.meta["cache_path"]
    np.testing.assert_array_equal(dropped.ids, kept.ids)
    cols = [1, 3, 4, 5]
    local_full = np.asarray(full.ids)[:, cols] - full.field_offsets[cols]
    np.testing.assert_array_equal(np.asarray(dropped.ids) - dropped.field_offsets, local_full)
    assert dropped.num_features == sum(full.vocab_sizes[c] for c in cols)
    np.testing.assert_array_equal(
        dropped.feature_counts, np.bincount(np.asarray(dropped.ids).ravel(),
                                            minlength=dropped.num_features))
    assert len(dropped.planted_dims) == dropped.num_features
    assert synthetic(drop_fields=["f00", "f02"]).meta["cache_hit"]
    with pytest.raises(ValueError, match="has no field.*'f9'.*f00, f01"):
        synthetic(fields=["f9"])


def test_cli_trains_on_a_tiny_table(tmp_path, capsys):
    folder = write_tables(tmp_path / "d", n=3000)
    schema_file = tmp_path / "schema.yaml"
    schema_file.write_text(yaml.safe_dump(SCHEMA))
    code = main(["train", "--dataset", "table", "--data-root", str(folder), "--schema",
                 str(schema_file), "--data-option", "drop_fields=[gender]", "--model", "fm",
                 "--dim", "4", "--epochs", "1", "--batch-size", "256", "--threads", "1",
                 "--device", "cpu", "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    assert "final" in capsys.readouterr().out
    code = main(["data", "info", "table", "--root", str(folder), "--schema", str(schema_file),
                 "--cache-dir", str(tmp_path / "cache")])
    assert code == 0 and "rows" in capsys.readouterr().out


def test_search_space_takes_the_schema_inline(tmp_path):
    from autoembed.tune.spaces import parse_spec

    folder = write_tables(tmp_path / "d")
    spec = parse_spec({
        "name": "t", "models": [{"name": "fm", "dim": 4}], "methods": {"uniform": {}},
        "datasets": [{"name": "table", "root": str(folder), "cache_dir": str(tmp_path / "cache"),
                      "options": {"schema": SCHEMA, "drop_fields": ["tags"]}}],
    })
    data = load_dataset(spec.datasets[0].data_config())
    assert data.field_names == ("user_id", "item_id", "gender", "price")


@pytest.mark.slow
def test_ml1m_schema_matches_the_builtin_parser(ml1m_dir, tmp_path):
    """examples/tables/ml-1m.yaml on the .dat files and on a Parquet copy: the built-in arrays."""
    schema = str(Path(__file__).resolve().parents[1] / "examples" / "tables" / "ml-1m.yaml")
    builtin = load_dataset(DataConfig("ml-1m", root=str(ml1m_dir), cache_dir=str(tmp_path / "c")))
    table = load(ml1m_dir, schema, tmp_path)
    names = {"ratings": ["user_id", "movie_id", "rating", "timestamp"],
             "users": ["user_id", "gender", "age", "occupation", "zip"],
             "movies": ["movie_id", "title", "genres"]}
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    for name, columns in names.items():
        text = (ml1m_dir / f"{name}.dat").read_text("latin-1").replace("::", "\t")
        frame = pd.read_csv(pd.io.common.StringIO(text), sep="\t", names=columns, dtype=str,
                            keep_default_na=False, quoting=3)
        for c in ("user_id", "movie_id"):
            if c in frame:
                frame[c] = frame[c].astype(np.int64)
        frame.to_parquet(pq_dir / f"{name}.parquet")
    raw = yaml.safe_load(Path(schema).read_text())
    raw["files"] = {"log": "ratings.parquet", "users": "users.parquet", "movies": "movies.parquet"}
    parquet = load(pq_dir, raw, tmp_path)
    for data in (table, parquet):
        assert data.field_names == builtin.field_names
        assert data.vocab_sizes == builtin.vocab_sizes
        np.testing.assert_array_equal(data.ids, builtin.ids)
        np.testing.assert_array_equal(data.labels, builtin.labels)
