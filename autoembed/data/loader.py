"""``load_dataset``: resolve the raw files, reuse the cached arrays or parse them once."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from autoembed.config import DataConfig
from autoembed.data.base import CTRData
from autoembed.data.cache import (
    SOURCE_HASH,
    build_entry,
    cache_key,
    default_cache_dir,
    entry_dir,
    file_digest,
    file_stamp,
    has_entries,
    load_entry,
    publish,
    remember_digest,
    remembered_digest,
    staged,
)
from autoembed.data.dataset import Dataset
from autoembed.data.fields import FieldSelection, select_fields
from autoembed.data.options import cache_options, parse_options
from autoembed.data.readhash import digests_of_reads
from autoembed.data.registry import get_dataset
from autoembed.data.report import MalformedLineError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def candidate_roots(name: str, cache_dir: str | None = None) -> list[Path]:
    """Where the raw files of ``name`` are looked for when no root is given, in order."""
    env = os.environ.get("AUTOEMBED_DATA_ROOT")
    if env:
        return [Path(env).expanduser() / name]
    return [PROJECT_ROOT.parent / "shared" / "data" / name, default_cache_dir(cache_dir) / "raw" / name]


def resolve_root(cfg: DataConfig, spec: Dataset | None = None) -> Path:
    """``cfg.root``, else env ``AUTOEMBED_DATA_ROOT/<name>``, else the first existing default."""
    spec = spec or get_dataset(cfg.name)
    if cfg.root:
        root = Path(cfg.root).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"data root {root} for {cfg.name!r} does not exist")
        return root
    tried = candidate_roots(cfg.name, cfg.cache_dir)
    for root in tried:
        if root.exists():
            return root
    raise FileNotFoundError(
        f"no raw data for {cfg.name!r}: looked in {', '.join(map(str, tried))}. "
        f"To get it: {spec.how_to_get}; or set DataConfig.root / --root / AUTOEMBED_DATA_ROOT."
    )


@dataclass(frozen=True)
class CachePlan:
    """Everything needed to load or build one cache entry."""

    spec: Dataset
    options: Any
    root: Path | None
    sources: dict[str, str]  # raw file name -> its content hash (cache.SOURCE_HASH)
    folder: Path
    selection: FieldSelection  # fields/drop_fields: an entry of its own, cut from the full one


@dataclass(frozen=True)
class Located:
    """A dataset config checked: its parsed options and raw files (all present)."""

    spec: Dataset
    options: Any
    selection: FieldSelection
    root: Path | None
    files: list[Path]


def check_data_config(cfg: DataConfig, files: bool = True) -> Located:
    """Check the name and options of ``cfg`` and (``files``) that its raw files exist; nothing
    is read."""
    spec = get_dataset(cfg.name)
    given = dict(cfg.options)
    selection = FieldSelection.pop(given)
    options = parse_options(spec.Config, given, cfg.name)
    if spec.generated or not files:
        return Located(spec, options, selection, None, [])
    root = resolve_root(cfg, spec)
    files = spec.raw_files(root, options)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{cfg.name!r} raw file(s) missing: {', '.join(missing)}. To get them: {spec.how_to_get}"
        )
    return Located(spec, options, selection, root, files)


def plan(cfg: DataConfig) -> CachePlan:
    """Check options, find and hash the raw files, and name the cache entry."""
    found = check_data_config(cfg)
    spec, options, selection, root = found.spec, found.options, found.selection, found.root
    cache_dir = default_cache_dir(cfg.cache_dir)
    sources = {}
    if root is not None:
        sources = {_source_name(f, root): file_digest(f, cache_dir) for f in found.files}
    key = cache_key(cfg.name, sources, {**cache_options(options), **selection.key()})
    return CachePlan(spec, options, root, sources, entry_dir(cache_dir, cfg.name, key), selection)


def _source_name(path: Path, root: Path) -> str:
    """A raw file's name in the cache key: its path under a folder root (parts in two folders
    may share a file name), else its file name."""
    if root.is_dir() and path.is_relative_to(root):
        return str(path.relative_to(root))
    return path.name


def load_dataset(cfg: DataConfig, progress: bool = False) -> CTRData:
    """The dataset ``cfg`` describes, memory-mapped from the cache (parsed once on first use).

    ``data.meta`` carries ``parse_report``, ``options``, ``sources`` (raw file content hashes,
    of kind ``source_hash``),
    ``cache_path`` and ``cache_hit`` (False when this call wrote the entry).
    """
    found = check_data_config(cfg)
    cache_dir = default_cache_dir(cfg.cache_dir)
    if _speculate(found, cfg.name, cache_dir):
        data = _parse_then_key(_unselected(cfg), found, cache_dir, progress)
        if not found.selection.active:
            return _checked(data, found.options)
    p = plan(cfg)
    data = load_entry(p.folder)
    hit = data is not None
    if data is None and p.selection.active:
        full = load_dataset(_unselected(cfg), progress)
        keep = p.selection.indices(full.field_names, cfg.name)
        data = build_entry(p.folder, lambda out_dir: {
            **select_fields(full, keep, out_dir), "options": {**cache_options(p.options),
                                                              **p.selection.key()}})
    if data is None:
        data = build_entry(p.folder, partial(_build, cfg, p.spec, p.options, p.root, p.sources,
                                             progress))
    data.meta["cache_path"] = str(p.folder)
    data.meta["cache_hit"] = hit
    return _checked(data, p.options)


def _unselected(cfg: DataConfig) -> DataConfig:
    """``cfg`` without its field selection: the entry a selection is cut from."""
    return dataclasses.replace(cfg, options={k: v for k, v in cfg.options.items()
                                             if k not in ("fields", "drop_fields")})


def _build(
    cfg: DataConfig, spec: Dataset, options: Any, root: Path | None, sources: dict[str, str],
    progress: bool, out_dir: Path,
) -> dict[str, Any]:
    meta = spec.build(root, options, out_dir, progress)
    return {"name": cfg.name, "options": cache_options(options), "sources": sources,
            "source_hash": SOURCE_HASH,
            "root": str(root) if root else None, **meta}


def _speculate(found: Located, name: str, cache_dir: Path) -> bool:
    """Whether to parse before the raw files' hashes are known (:func:`_parse_then_key`): only
    on a truly first load, a hash not remembered and no entry of ``name`` in the cache. Where
    the cache holds one (a fresh node sharing the folder, a copied or touched file), the files
    are hashed first, so that an entry of the same content is loaded without a parse."""
    if found.root is None or has_entries(cache_dir, name):
        return False
    return not all(remembered_digest(f, cache_dir) is not None for f in found.files)


_PARSE_ATTEMPTS = 3  # a raw file that changes while it is parsed: parsed again, this many times


def _parse_then_key(
    cfg: DataConfig, found: Located, cache_dir: Path, progress: bool
) -> CTRData:
    """The first load (see :func:`_speculate`): parse into a temporary folder while the
    parser's reads give each file's hash (or hash the file afterwards where the parser does not
    report its reads), then key the entry. An entry already under that key (published by
    another process meanwhile) is loaded and the parse dropped; a raw
    file whose stamp changed while it was read is parsed again, never cached under a key its
    arrays may not match."""
    root = found.root
    assert root is not None
    for _ in range(_PARSE_ATTEMPTS):
        stamps = {f: file_stamp(f) for f in found.files}
        with digests_of_reads({f: stamp[0] for f, stamp in stamps.items()}) as digests, \
                staged(cache_dir / "datasets", cfg.name, partial(
                    _build, cfg, found.spec, found.options, root, {}, progress)) as (tmp, meta):
            hashes = {f: digests[f].hexdigest() or file_digest(f, cache_dir) for f in found.files}
            if any(file_stamp(f) != stamp for f, stamp in stamps.items()):
                continue  # changed while read: the arrays and the hash may not match
            for f, stamp in stamps.items():
                remember_digest(f, stamp, hashes[f], cache_dir)
            meta["sources"] = {_source_name(f, root): hashes[f] for f in found.files}
            key = cache_key(cfg.name, meta["sources"], cache_options(found.options))
            folder = entry_dir(cache_dir, cfg.name, key)
            data = load_entry(folder)
            hit = data is not None
            if data is None:
                data = publish(tmp, meta, folder)
            data.meta["cache_path"] = str(folder)
            data.meta["cache_hit"] = hit
            return data
    raise RuntimeError(f"{', '.join(map(str, found.files))} changed each of the "
                       f"{_PARSE_ATTEMPTS} times it was parsed: nothing was cached")


def _checked(data: CTRData, options: Any) -> CTRData:
    """``data``, after strict mode's check of its recorded bad lines."""
    if getattr(options, "strict", False):
        raise_if_malformed(data.meta["parse_report"])
    return data


def raise_if_malformed(report: dict[str, Any]) -> None:
    """Strict mode on a cache entry parsed leniently: fail on its first recorded bad line."""
    if report["skipped"]:
        first = report["first_bad_lines"][0]
        raise MalformedLineError(
            f"{first['file']}, line {first['line']}: {first['reason']} ({first['detail']}); "
            f"{report['skipped']} malformed line(s) in all. Fix or remove them, or load without "
            "strict mode to skip and count malformed lines."
        )
