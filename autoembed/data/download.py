"""Download MovieLens-1M from GroupLens, verify its sha256, unzip it into the raw-data cache."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from autoembed.data.cache import default_cache_dir
from autoembed.progress import progress_bar

ML1M_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
ML1M_SHA256 = "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"
ML1M_FILES = ("ratings.dat", "users.dat", "movies.dat")
_BLOCK = 1 << 20


class ChecksumError(ValueError):
    """A downloaded file's sha256 is not the expected one."""


def fetch(url: str, target: Path, sha256: str, progress: bool = False, timeout: float = 60) -> Path:
    """Download ``url`` to ``target`` and check its sha256; on any failure nothing is left behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, desc=target.name,
                              disable=not progress, leave=False) as bar:
                while block := response.read(_BLOCK):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if digest.hexdigest() != sha256.lower():
            raise ChecksumError(
                f"{url}: sha256 {digest.hexdigest()} does not match the expected {sha256}; the "
                "download was removed. Retry, or check the URL (a proxy or mirror may alter files)."
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _extract(archive: Path, dest: Path, name: str) -> Path:
    """Unzip ``archive`` and move its ``name/`` folder to ``dest/name`` (atomically)."""
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=dest) as tmp:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                resolved = (Path(tmp) / member).resolve()
                if not resolved.is_relative_to(Path(tmp).resolve()):
                    raise ValueError(f"{archive}: unsafe path {member!r} in the archive")
            zf.extractall(tmp)
        unpacked = Path(tmp) / name
        missing = [f for f in ML1M_FILES if not (unpacked / f).is_file()]
        if missing:
            raise ValueError(f"{archive} has no {name}/{', '.join(missing)}: not the ml-1m archive")
        final = dest / name
        if final.exists():
            shutil.rmtree(final)
        unpacked.rename(final)
    return final


def download_ml1m(
    dest: str | Path | None = None,
    url: str = ML1M_URL,
    sha256: str = ML1M_SHA256,
    progress: bool = False,
) -> Path:
    """Fetch ml-1m.zip into ``dest`` (default ``<cache>/raw``) and return ``dest/ml-1m``.

    ``url`` and ``sha256`` can point at a mirror or a local test server.
    """
    dest = Path(dest).expanduser() if dest else default_cache_dir() / "raw"
    dest.mkdir(parents=True, exist_ok=True)
    archive = fetch(url, dest / "ml-1m.zip", sha256, progress)
    try:
        return _extract(archive, dest, "ml-1m")
    finally:
        archive.unlink(missing_ok=True)
