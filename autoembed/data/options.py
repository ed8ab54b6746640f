"""Typed parser options: ``DataConfig.options`` is checked against one of these per dataset."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from autoembed.config import check_choices
from autoembed.data.lines import DEFAULT_CHUNK_BYTES
from autoembed.typed import check_keys

# Options that change how a file is read, not what comes out: left out of the cache key.
NOT_IN_CACHE_KEY = {"strict", "chunk_bytes"}


@dataclass
class ParseOptions:
    """Options every raw-file parser takes."""

    min_count: int = field(default=1, metadata={"help": "rarer values map to the field's OOV id 0"})
    strict: bool = field(default=False, metadata={
        "help": "fail on the first malformed line instead of skipping and counting it"})
    chunk_bytes: int = field(default=DEFAULT_CHUNK_BYTES, metadata={"help": "streaming block size"})

    def __post_init__(self) -> None:
        if int(self.min_count) < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")
        if int(self.chunk_bytes) < 1024:
            raise ValueError(f"chunk_bytes must be >= 1024, got {self.chunk_bytes}")
        check_choices(self)  # every Literal field of a subclass


@dataclass
class MovieLensOptions(ParseOptions):
    """MovieLens-1M: every value is kept by default (min_count 1)."""


@dataclass
class CriteoOptions(ParseOptions):
    min_count: int = 10


@dataclass
class AvazuOptions(ParseOptions):
    """``hour``: "raw" keeps YYMMDDHH as one category; "hour_of_day" keeps only HH (0-23)."""

    min_count: int = 10
    hour: Literal["raw", "hour_of_day"] = field(default="raw", metadata={
        "help": "raw: YYMMDDHH as one category; hour_of_day: HH only"})


def parse_options(cls: type, given: dict[str, Any], dataset: str) -> Any:
    """Build options ``cls`` from ``given``; an unknown key is an error listing the allowed ones."""
    check_keys(cls, given, f"options of dataset {dataset!r}")
    return cls(**given)


def cache_options(options: Any) -> dict[str, Any]:
    """The options that change a parser's output (the part of the cache key they form)."""
    return {k: v for k, v in asdict(options).items() if k not in NOT_IN_CACHE_KEY}
