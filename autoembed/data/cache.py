"""The parsed-array cache: one folder per (raw content hash, options), written atomically.

Raw files are hashed with :data:`~autoembed.data.readhash.SOURCE_HASH` (BLAKE3, else sha256).

A folder holds ``.npy`` arrays (memory-mapped on load) and ``meta.json``, which is written last
and records every array's shape and checksum (xxh3-128; blake2b-128 without xxhash). A folder whose shapes do not match is
treated as absent and rebuilt; one whose checksums do not match is rebuilt with a warning. The
checksums are verified once per process and file state (size, mtime, ctime, inode): an edit in
place changes the ctime even when the size and mtime are put back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

try:
    import xxhash
except ImportError:  # a bare environment (benchmarks/gpu_check.sh): blake2b, slower, same job
    xxhash = None

from autoembed.data.base import CTRData
from autoembed.data.readhash import SOURCE_HASH, source_hasher

FORMAT_VERSION = 3  # bump when a parser's output changes, so old cache entries are not reused
_HASH_BLOCK = 8 << 20
ARRAY_FIELDS = ("ids", "labels", "feature_counts", "planted_dims", "teacher_probs", "split_parts")
CHECKSUM = "xxh3_128" if xxhash is not None else "blake2b_128"  # what new entries record
_VERIFIED: dict[str, tuple[int, ...]] = {}  # array file -> its stamp when its checksum matched


def file_stamp(path: Path) -> tuple[int, ...]:
    """What changes whenever a file's content may have: size, mtime, ctime, inode, device
    (``os.utime`` can put the mtime back, but setting it moves the ctime)."""
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def file_checksum(path: Path, algorithm: str = CHECKSUM) -> str:
    """``algorithm`` (xxh3-128, several GB/s: cheap next to reading the file at all; or
    blake2b-128 where xxhash is not installed) of a file's bytes."""
    if algorithm == "xxh3_128" and xxhash is not None:
        digest = xxhash.xxh3_128()
    elif algorithm == "blake2b_128":
        digest = hashlib.blake2b(digest_size=16)
    else:
        raise ValueError(f"checksum {algorithm!r} is not available here (xxh3_128 needs the "
                         "xxhash package)")
    _hash_file(path, digest)
    return digest.hexdigest()


def _hash_file(path: Path, digest: Any) -> None:
    """Feed a file's bytes to ``digest``, read into one reused buffer (a fresh buffer per read
    costs about as much again as sha256 itself: new pages to fault in)."""
    buffer = memoryview(bytearray(_HASH_BLOCK))
    with path.open("rb", buffering=0) as fh:
        while got := fh.readinto(buffer):
            digest.update(buffer[:got])


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else env ``AUTOEMBED_CACHE``, else ``~/.cache/autoembed``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get("AUTOEMBED_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "autoembed"


def file_digest(path: Path, cache_dir: Path) -> str:
    """:data:`SOURCE_HASH` of a file's content, remembered by (path, :func:`file_stamp`) in
    ``cache_dir/hashes.json``; a changed stamp re-reads the file."""
    stamp = file_stamp(path)
    known = remembered_digest(path, cache_dir, stamp)
    if known is not None:
        return known
    digest = source_hasher()
    _hash_file(path, digest)
    remember_digest(path, stamp, digest.hexdigest(), cache_dir)
    return digest.hexdigest()


def remembered_digest(path: Path, cache_dir: Path, stamp: tuple[int, ...] | None = None) -> str | None:
    """The hash ``hashes.json`` holds for ``path`` at its current stamp (or ``stamp``), else None."""
    known = _hash_index(cache_dir).get(str(path.resolve()))
    if known and known.get("stamp") == list(stamp or file_stamp(path)) and SOURCE_HASH in known:
        return str(known[SOURCE_HASH])
    return None


def remember_digest(path: Path, stamp: tuple[int, ...], digest: str, cache_dir: Path) -> None:
    """Record that ``path`` at ``stamp`` hashed to ``digest`` (warns when the file had another
    content before: its dataset is parsed again)."""
    path = path.resolve()
    index = _hash_index(cache_dir)
    known = index.get(str(path))
    if known and known.get(SOURCE_HASH, digest) != digest:
        warnings.warn(f"{path} changed since it was last read: its dataset is parsed again",
                      RuntimeWarning, stacklevel=3)
    index[str(path)] = {"stamp": list(stamp), SOURCE_HASH: digest}
    cache_dir.mkdir(parents=True, exist_ok=True)
    _write_text_atomic(cache_dir / "hashes.json", json.dumps(index, indent=1))


def _hash_index(cache_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((cache_dir / "hashes.json").read_text())
    except (OSError, ValueError):
        return {}


def cache_key(name: str, source_hashes: dict[str, str], options: dict[str, Any]) -> str:
    """Key of a cache entry: dataset name, raw file hashes (and their kind, where not sha256:
    keys made with sha256 stay as they were), options and the format version."""
    kind = {} if SOURCE_HASH == "sha256" else {"source_hash": SOURCE_HASH}
    blob = json.dumps(
        {"name": name, "sources": source_hashes, "options": options, "format": FORMAT_VERSION,
         **kind},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def entry_dir(cache_dir: Path, name: str, key: str) -> Path:
    return cache_dir / "datasets" / f"{name}-{key[:20]}"


def has_entries(cache_dir: Path, name: str) -> bool:
    """Whether ``cache_dir`` holds a finished entry of dataset ``name`` (any raw content or
    options; staged ``.tmp-`` folders and other datasets' entries do not count)."""
    entry = re.compile(re.escape(name) + r"-[0-9a-f]{20}")
    try:
        return any(entry.fullmatch(p.name) and (p / "meta.json").is_file()
                   for p in (cache_dir / "datasets").iterdir())
    except OSError:
        return False


def load_entry(folder: Path) -> CTRData | None:
    """The cached dataset in ``folder`` memory-mapped, or None when absent, incomplete or
    damaged (a checksum mismatch, which is also warned about)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        arrays = {}
        for key, recorded in meta["arrays"].items():
            path = folder / f"{key}.npy"
            arr = np.load(path, mmap_mode="r")
            if list(arr.shape) != list(recorded["shape"]):
                return None
            algorithm = next((a for a in ("xxh3_128", "blake2b_128") if a in recorded), "xxh3_128")
            if algorithm == "xxh3_128" and xxhash is None:
                warnings.warn(f"cache entry {folder} was checksummed with xxh3, and the xxhash "
                              "package is not installed here: rebuilding it", RuntimeWarning,
                              stacklevel=2)
                return None
            if not _checksum_matches(path, algorithm, recorded[algorithm]):
                warnings.warn(f"cache entry {folder}: {key}.npy does not match its checksum "
                              "(damaged or edited); rebuilding it", RuntimeWarning, stacklevel=2)
                return None
            arrays[key] = arr
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return CTRData(
        name=meta["name"],
        field_names=tuple(meta["field_names"]),
        vocab_sizes=tuple(int(v) for v in meta["vocab_sizes"]),
        meta=meta,
        **arrays,
    )


def _checksum_matches(path: Path, algorithm: str, expected: str) -> bool:
    """Whether ``path`` hashes to ``expected``; read once per process while its stamp holds."""
    key, stamp = str(path.resolve()), file_stamp(path)
    if _VERIFIED.get(key) == stamp:
        return True
    if file_checksum(path, algorithm) != expected:
        return False
    _VERIFIED[key] = stamp
    return True


def build_entry(folder: Path, build: Callable[[Path], dict[str, Any]]) -> CTRData:
    """Run ``build(tmp_dir)`` (writes ``<array>.npy`` files, returns meta), then publish atomically."""
    with staged(folder.parent, folder.name, build) as (tmp, meta):
        return publish(tmp, meta, folder)


@contextmanager
def staged(
    parent: Path, name: str, build: Callable[[Path], dict[str, Any]]
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Run ``build(tmp)`` in a fresh folder under ``parent``; yields (that folder, the meta it
    returned). The folder is deleted on leaving unless :func:`publish` moved it into place: a
    build whose entry turns out to exist already, or whose input changed, is simply dropped."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=parent))
    try:
        yield tmp, build(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(tmp: Path, meta: dict[str, Any], folder: Path) -> CTRData:
    """Checksum the arrays ``tmp`` holds, write ``meta.json`` last and rename ``tmp`` to
    ``folder`` atomically (an entry another process published first is kept); the entry."""
    checked: dict[str, tuple[int, ...]] = {}  # array -> its stamp when checksummed
    meta["arrays"] = {}
    for key in ARRAY_FIELDS:
        path = tmp / f"{key}.npy"
        if path.exists():
            checked[key] = file_stamp(path)
            meta["arrays"][key] = {"shape": list(np.load(path, mmap_mode="r").shape),
                                   CHECKSUM: file_checksum(path)}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=_jsonable))
    if folder.exists():  # a stale or broken entry (a complete one would have been loaded)
        shutil.rmtree(folder, ignore_errors=True)
    try:
        os.rename(tmp, folder)
    except OSError:  # another process published the same entry first
        if load_entry(folder) is None:
            raise
    else:  # the files just checksummed, moved with their folder: not read again while unchanged
        for key, stamp in checked.items():
            _VERIFIED[str((folder / f"{key}.npy").resolve())] = stamp
    data = load_entry(folder)
    if data is None:
        raise RuntimeError(f"cache entry {folder} is unreadable right after writing it")
    return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
