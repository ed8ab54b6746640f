"""An experiment folder on object storage (``s3://``, ``gs://``, ...): the driver keeps its
working copy in ``./results/<name>`` and mirrors it to ``<storage_path>/<name>`` so a fresh
driver elsewhere can resume or report from the bucket alone.

Each file is written with one PUT (small files: a single object write), so a reader sees the
old or the new file, never half of one. The endpoint comes from the environment the way every
AWS client takes it (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), through pyarrow's
filesystem, which Ray Tune uses for the same ``storage_path``."""

from __future__ import annotations

from pathlib import Path

TOP_FILES = ("results.parquet", "results.csv", "sweep_spec.yaml", "environment.json",
             "epochs.csv", "finished.json")  # the experiment's own files, beside Tune's trial folders
ARTIFACTS = "artifacts"


class StorageError(OSError):
    """Object storage could not be reached or written; the message says what and where."""


def _fs(uri: str):
    import pyarrow.fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri.rstrip("/"))
    except Exception as exc:  # bad scheme, missing credentials: say so with the URI
        raise StorageError(f"cannot open storage {uri}: {exc}") from exc


def upload(local: Path, uri: str) -> None:
    """Write ``local`` to ``uri`` (a file URI) in one object write."""
    fs, path = _fs(uri)
    data = local.read_bytes()
    try:
        with fs.open_output_stream(path) as out:
            out.write(data)
    except Exception as exc:
        raise StorageError(f"could not write {uri} (is the object store reachable? "
                           f"AWS_ENDPOINT_URL={_endpoint()}): {exc}") from exc


def mirror(folder: Path, uri: str, names: tuple[str, ...] = TOP_FILES) -> list[str]:
    """Upload ``names`` (those that exist) and everything under ``artifacts/`` of ``folder``
    to the experiment URI; returns the URIs written."""
    files = [folder / n for n in names if (folder / n).is_file()]
    if names == TOP_FILES and (folder / ARTIFACTS).is_dir():
        files += sorted(p for p in (folder / ARTIFACTS).rglob("*") if p.is_file())
    written = []
    for path in files:
        target = f"{uri.rstrip('/')}/{path.relative_to(folder).as_posix()}"
        upload(path, target)
        written.append(target)
    return written


def fetch(uri: str, folder: Path) -> list[Path]:
    """Download the experiment's own files (``TOP_FILES`` and ``artifacts/``) from ``uri`` into
    ``folder``; Tune's trial folders stay in the bucket. Returns the files written."""
    import pyarrow.fs as pafs

    fs, root = _fs(uri)
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=False, allow_not_found=True))
        infos += fs.get_file_info(pafs.FileSelector(f"{root}/{ARTIFACTS}", recursive=True,
                                                    allow_not_found=True))
    except Exception as exc:
        raise StorageError(f"could not list {uri} (AWS_ENDPOINT_URL={_endpoint()}): {exc}") from exc
    got = []
    for info in infos:
        rel = info.path[len(root):].lstrip("/")
        if info.type != pafs.FileType.File or not (rel in TOP_FILES or rel.startswith(f"{ARTIFACTS}/")):
            continue
        local = folder / rel
        local.parent.mkdir(parents=True, exist_ok=True)
        with fs.open_input_stream(info.path) as src:
            tmp = local.with_name(f".{local.name}.tmp")
            tmp.write_bytes(src.read())
        tmp.replace(local)
        got.append(local)
    return got


def _endpoint() -> str:
    import os

    return os.environ.get("AWS_ENDPOINT_URL", "<unset: the provider's default>")
