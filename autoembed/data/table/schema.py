"""The ``table`` dataset's schema: typed dataclasses built from YAML, every mistake a clear error.

```yaml
files: {log: ratings.parquet, users: users.csv}        # default: {log: <root>}
join: [{table: users, on: user_id}]
rename: {"user_id:token": user_id}
types: {user_id: int}                                   # string (default) | int | float
label: {column: rating, positive: "> 3", drop: "== 3"}  # positive omitted: already 0/1
categorical: [user_id, gender]
numeric: {age: {buckets: log_square}, price: {buckets: quantile, n: 32}}
multi_valued: {genres: {sep: "|", as: whole}}           # whole | first
extract: {year: {column: title, regex: '\\((?P<year>\\d{4})\\)$'}}
min_count: 1                                            # or {default: 1, zip: 5}
split: {by: random, seed: 2021, fractions: [0.8, 0.1, 0.1]}   # or by: <timestamp column>
```
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from autoembed.typed import SpecError, build, check_keys, read_yaml

ColumnType = Literal["string", "int", "float"]
Buckets = Literal["log_square", "log2", "quantile"]
OPERATORS = (">=", "<=", "==", "!=", ">", "<")
PARQUET_SUFFIXES = (".parquet", ".pq")
TEXT_SEPARATORS = {".csv": ",", ".tsv": "\t"}


class SchemaError(SpecError):
    """A ``table`` schema is invalid; the message names the key and the way out."""


@dataclass(frozen=True)
class FileSpec:
    """One table: a file, folder or glob of CSV/TSV/text or Parquet files of the same columns."""

    path: str
    sep: str | None = None  # text: default from the suffix (.csv ",", .tsv TAB); may be "::"
    columns: tuple[str, ...] | None = None  # text: the column names (any header line is skipped)
    header: bool | None = None  # text: the first line is a header (default: when no ``columns``)
    encoding: str = "utf8"

    @property
    def has_header(self) -> bool:
        return self.columns is None if self.header is None else self.header


@dataclass(frozen=True)
class JoinSpec:
    """Attach side table ``table``'s columns to each log row whose ``on`` matches its key."""

    table: str
    on: str


@dataclass(frozen=True)
class Rule:
    """A comparison such as ``> 3`` or ``== 3`` against a numeric value."""

    op: str
    value: float

    @classmethod
    def parse(cls, text: Any, where: str) -> Rule:
        match = re.fullmatch(r"\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+(?:[eE][-+]?\d+)?)\s*", str(text))
        if match is None:
            raise SchemaError(f"{where}: {text!r} is not a rule; write an operator "
                              f"({' '.join(OPERATORS)}) and a number, e.g. '> 3'")
        return cls(match.group(1), float(match.group(2)))

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass(frozen=True)
class LabelSpec:
    """How ``column`` becomes a 0/1 label: ``positive`` rule (omitted: values must be 0 or 1);
    rows matching a ``drop`` rule are left out."""

    column: str
    positive: str | None = None
    drop: tuple[str, ...] = ()

    def positive_rule(self) -> Rule | None:
        return None if self.positive is None else Rule.parse(self.positive, "label.positive")

    def drop_rules(self) -> list[Rule]:
        return [Rule.parse(d, f"label.drop[{i}]") for i, d in enumerate(self.drop)]


@dataclass(frozen=True)
class NumericSpec:
    """A numeric column turned into categories: Criteo's ``int(ln(v)^2)`` (``log_square``),
    ``floor(log2(v))`` (``log2``), or ``n`` quantile buckets fitted on the training split."""

    buckets: Buckets = "log_square"
    n: int = 32

    def __post_init__(self) -> None:
        if self.n < 2:
            raise ValueError(f"n must be >= 2, got {self.n}")


@dataclass(frozen=True)
class MultiValuedSpec:
    """A column holding several values joined by ``sep``: the whole string as one category, or
    its first value (``as: whole | first``)."""

    sep: str
    mode: Literal["whole", "first"] = "whole"


@dataclass(frozen=True)
class ExtractSpec:
    """A new string column: the regex's named group taken from ``column`` (no match: missing)."""

    column: str
    regex: str

    def __post_init__(self) -> None:
        try:
            groups = re.compile(self.regex).groupindex
        except re.error as exc:
            raise ValueError(f"regex {self.regex!r} does not compile: {exc}") from None
        if len(groups) != 1:
            raise ValueError(f"regex {self.regex!r} needs exactly one named group, "
                             r"e.g. '\((?P<year>\d{4})\)'")


@dataclass(frozen=True)
class SplitSpec:
    """``by: random`` (seeded) or ``by: <timestamp column>``: the earliest rows train, the later
    ones validate and test. ``empty``: rows without a timestamp are dropped or put in train."""

    by: str = "random"
    seed: int = 2021
    fractions: tuple[float, ...] = (0.8, 0.1, 0.1)
    empty: Literal["drop", "train"] = "drop"

    def __post_init__(self) -> None:
        f = self.fractions
        if len(f) != 3 or any(x < 0 for x in f) or abs(sum(f) - 1.0) > 1e-6:
            raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {list(f)}")

    @property
    def by_time(self) -> bool:
        return self.by != "random"


@dataclass(frozen=True)
class Schema:
    """A whole ``table`` schema (see the module docstring)."""

    label: LabelSpec
    files: dict[str, FileSpec] = field(default_factory=dict)
    join: tuple[JoinSpec, ...] = ()
    rename: dict[str, str] = field(default_factory=dict)
    types: dict[str, ColumnType] = field(default_factory=dict)
    categorical: tuple[str, ...] = ()
    numeric: dict[str, NumericSpec] = field(default_factory=dict)
    multi_valued: dict[str, MultiValuedSpec] = field(default_factory=dict)
    extract: dict[str, ExtractSpec] = field(default_factory=dict)
    min_count: dict[str, int] = field(default_factory=dict)  # "default" and per column
    split: SplitSpec = field(default_factory=SplitSpec)

    @property
    def features(self) -> tuple[str, ...]:
        """Feature columns in output order: categorical, numeric, multi-valued."""
        return (*self.categorical, *self.numeric, *self.multi_valued)

    def min_count_of(self, column: str, default: int) -> int:
        return int(self.min_count.get(column, self.min_count.get("default", default)))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (part of the cache key)."""
        return asdict(self)


TOP_KEYS = ("files", "join", "rename", "types", "label", "categorical", "numeric",
            "multi_valued", "extract", "min_count", "split")


def load_schema(given: str | Path | dict[str, Any]) -> Schema:
    """A :class:`Schema` from a YAML file path or an already-loaded mapping."""
    if isinstance(given, (str, Path)):
        path = Path(given).expanduser()
        raw, where = read_yaml(path, "schema file"), str(path)
    else:
        raw, where = given, "schema"
    return parse_schema(raw, where)


def parse_schema(raw: Any, where: str = "schema") -> Schema:
    """Check ``raw`` (a mapping) key by key and build the :class:`Schema`."""
    if not isinstance(raw, dict):
        raise SchemaError(f"{where}: expected a mapping with keys {', '.join(TOP_KEYS)}, got {raw!r}")
    check_keys(TOP_KEYS, raw, where, SchemaError)
    if "label" not in raw:
        raise SchemaError(f"{where}: 'label' is required, e.g. label: {{column: rating, positive: '> 3'}}")
    label = raw["label"]
    if isinstance(label, dict) and isinstance(label.get("drop"), str):
        label = {**label, "drop": [label["drop"]]}
    parsed: dict[str, Any] = {
        "label": build(LabelSpec, label, f"{where}.label"),
        "split": build(SplitSpec, raw.get("split"), f"{where}.split"),
        "files": {name: _file_spec(spec, f"{where}.files.{name}")
                  for name, spec in _mapping(raw, "files", where).items()},
        "join": tuple(build(JoinSpec, _yaml_on(j), f"{where}.join[{i}]")
                      for i, j in enumerate(_list(raw, "join", where))),
        "rename": {str(k): _string(v, f"{where}.rename.{k}")
                   for k, v in _mapping(raw, "rename", where).items()},
        "types": {str(k): _choice(v, ("string", "int", "float"), f"{where}.types.{k}")
                  for k, v in _mapping(raw, "types", where).items()},
        "categorical": tuple(_string(c, f"{where}.categorical[{i}]")
                             for i, c in enumerate(_list(raw, "categorical", where))),
        "numeric": {str(k): build(NumericSpec, v, f"{where}.numeric.{k}")
                    for k, v in _mapping(raw, "numeric", where).items()},
        "multi_valued": {str(k): _multi_valued(v, f"{where}.multi_valued.{k}")
                         for k, v in _mapping(raw, "multi_valued", where).items()},
        "extract": {str(k): build(ExtractSpec, v, f"{where}.extract.{k}")
                    for k, v in _mapping(raw, "extract", where).items()},
        "min_count": _min_count(raw.get("min_count"), f"{where}.min_count"),
    }
    schema = Schema(**parsed)
    _check_consistency(schema, where)
    return schema


def _check_consistency(s: Schema, where: str) -> None:
    s.label.positive_rule()  # rules are checked here, before any file is read
    s.label.drop_rules()
    if not s.features:
        raise SchemaError(f"{where}: no feature columns; list some under categorical, numeric "
                          "or multi_valued")
    seen: dict[str, str] = {}
    for kind, names in (("categorical", s.categorical), ("numeric", s.numeric),
                        ("multi_valued", s.multi_valued)):
        for name in names:
            if name in seen:
                raise SchemaError(f"{where}: column {name!r} is listed under both {seen[name]} and {kind}")
            seen[name] = kind
    if s.label.column in seen:
        raise SchemaError(f"{where}: the label column {s.label.column!r} cannot also be a feature")
    if s.split.by_time and s.split.by in seen:
        raise SchemaError(f"{where}: the split column {s.split.by!r} cannot also be a feature "
                          "(a model would see the time it is tested on)")
    if s.files and "log" not in s.files:
        raise SchemaError(f"{where}.files: name the main table 'log' (got {', '.join(s.files)})")
    for j in s.join:
        if j.table not in s.files or j.table == "log":
            raise SchemaError(f"{where}.join: table {j.table!r} is not a side table under files "
                              f"(have: {', '.join(s.files) or 'none'})")
    for name in s.extract:
        if name in s.types and s.types[name] != "string":
            raise SchemaError(f"{where}.types.{name}: an extracted column is a string")
    for name in s.min_count:
        if name != "default" and name not in seen:
            raise SchemaError(f"{where}.min_count: {name!r} is not a feature column "
                              f"(features: {', '.join(seen)}; or use 'default')")


def _file_spec(spec: Any, where: str) -> FileSpec:
    if isinstance(spec, str):
        spec = {"path": spec}
    return build(FileSpec, spec, where)


def _yaml_on(spec: Any) -> Any:
    """YAML 1.1 reads an unquoted ``on:`` key as ``True``; take it as ``on``."""
    if isinstance(spec, dict) and True in spec:
        return {("on" if k is True else k): v for k, v in spec.items()}
    return spec


def _multi_valued(spec: Any, where: str) -> MultiValuedSpec:
    if isinstance(spec, dict) and "as" in spec:
        spec = {**{k: v for k, v in spec.items() if k != "as"}, "mode": spec["as"]}
    return build(MultiValuedSpec, spec, where)


def _min_count(value: Any, where: str) -> dict[str, int]:
    if value is None:
        return {}
    given = value if isinstance(value, dict) else {"default": value}
    out = {}
    for k, v in given.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SchemaError(f"{where}.{k}: expected an integer >= 1, got {v!r}")
        out[str(k)] = v
    return out


def _mapping(raw: dict, key: str, where: str) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise SchemaError(f"{where}.{key}: expected a mapping, got {value!r}")
    return value


def _list(raw: dict, key: str, where: str) -> list:
    value = raw.get(key) or []
    if not isinstance(value, (list, tuple)):
        raise SchemaError(f"{where}.{key}: expected a list, got {value!r}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SchemaError(f"{where}: expected a column name, got {value!r}")
    return value


def _choice(value: Any, choices: tuple[str, ...], where: str) -> Any:
    if value not in choices:
        raise SchemaError(f"{where}: got {value!r}, expected one of {', '.join(choices)}")
    return value
