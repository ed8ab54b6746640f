"""sha256 of a raw file taken from the parser's own reads, so a cold load reads the file once.

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

_TAPS: ContextVar[dict[str, ReadDigest] | None] = ContextVar("autoembed_read_taps", default=None)


class ReadDigest:
    """sha256 of the first ``size`` bytes of a file, fed in file order by its reader."""

    def __init__(self, size: int) -> None:
        self.size, self.position = size, 0
        self._sha = hashlib.sha256()

    def feed(self, offset: int, data: memoryview | bytes) -> None:
        """Bytes read at ``offset``; taken only where they continue what was fed so far."""
        if offset == self.position and self.position < self.size:
            self._sha.update(data)  # hashlib releases the GIL on large updates
            self.position += len(data)

    def hexdigest(self) -> str | None:
        """The sha256 (hex) when exactly ``size`` bytes were fed, else None."""
        return self._sha.hexdigest() if self.position == self.size else None


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
