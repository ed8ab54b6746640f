"""The raw files' content hash (the cache key's), taken from the parser's own reads, so a cold
load reads each file once.

The hash is BLAKE3 where the ``blake3`` package is installed (a cryptographic hash like sha256,
~4.6x its speed here: 4.9 against 1.06 GB/s on one core), else sha256; the key records which.

The loader opens :func:`digests_of_reads` around a parse; a reader that supports it
(:func:`autoembed.data.blocks.iter_blocks`) passes every read to :func:`read_tap`'s digest with
its file offset. Only bytes that continue the digest in order are taken, so re-reads (a parser
starting again from the top) are harmless; a digest that did not see every byte up to the size
the file had when the parse began gives no hash (the loader then reads the file itself).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

try:
    import blake3
except ImportError:  # a bare environment: sha256, slower, same job
    blake3 = None

SOURCE_HASH = "blake3" if blake3 is not None else "sha256"  # what new cache keys use


def source_hasher(data: bytes = b"") -> Any:
    """A fresh :data:`SOURCE_HASH` object (``update``/``hexdigest``), fed ``data``."""
    return blake3.blake3(data) if blake3 is not None else hashlib.sha256(data)


_TAPS: ContextVar[dict[str, ReadDigest] | None] = ContextVar("autoembed_read_taps", default=None)


class ReadDigest:
    """:data:`SOURCE_HASH` of the first ``size`` bytes of a file, fed in file order by its reader."""

    def __init__(self, size: int) -> None:
        self.size, self.position = size, 0
        self._hash = source_hasher()

    def feed(self, offset: int, data: memoryview | bytes) -> None:
        """Bytes read at ``offset``; taken only where they continue what was fed so far."""
        if offset == self.position and self.position < self.size:
            self._hash.update(data)  # both release the GIL on large updates
            self.position += len(data)

    def hexdigest(self) -> str | None:
        """The hash (hex) when exactly ``size`` bytes were fed, else None."""
        return self._hash.hexdigest() if self.position == self.size else None


@contextmanager
def digests_of_reads(sizes: dict[Path, int]) -> Iterator[dict[Path, ReadDigest]]:
    """Within the block, readers of these files (their size when the read began) feed a digest
    each; yields them by path. Per thread/context: another load elsewhere is not affected."""
    digests = {path: ReadDigest(size) for path, size in sizes.items()}
    token = _TAPS.set({**(_TAPS.get() or {}), **{str(p.resolve()): d for p, d in digests.items()}})
    try:
        yield digests
    finally:
        _TAPS.reset(token)


def read_tap(path: Path) -> ReadDigest | None:
    """The digest a reader of ``path`` should feed, or None outside :func:`digests_of_reads`."""
    taps = _TAPS.get()
    return taps.get(str(path.resolve())) if taps else None
