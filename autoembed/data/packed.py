"""Short strings as integers: a value of at most 8 bytes with no NUL byte packs losslessly into
a uint64 (its bytes big-endian, zero-padded on the right). The packed keys sort in the strings'
byte order, and the empty string packs to 0. Criteo's categories (8 hex digits) and Avazu's all
pack; hashing, counting and looking up integers is much cheaper than strings.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

PACK_BYTES = 8
_MASKS = np.array([0] + [(1 << 64) - (1 << 8 * (PACK_BYTES - n)) for n in range(1, 9)],
                  np.uint64)  # the first n bytes of a big-endian word


def pack_strings(values: pa.Array, keep: np.ndarray) -> np.ndarray | None:
    """Each string of ``values`` packed into a uint64 (see the module doc), or None when a kept
    value (``keep``, bool per row) is longer than 8 bytes or some value has a NUL byte or is null.
    Values of rows not kept that are too long pack to 0 (those rows are dropped)."""
    if values.null_count or not (pa.types.is_string(values.type) or pa.types.is_binary(values.type)):
        return None
    n = len(values)
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32, n + 1, values.offset * 4)
    start, end = int(offsets[0]), int(offsets[-1])
    data = (np.frombuffer(data_buf, np.uint8, end - start, start) if end > start
            else np.empty(0, np.uint8))
    lengths = np.diff(offsets)
    if n and len(data) == PACK_BYTES * n and (lengths == PACK_BYTES).all():  # all 8 bytes long
        return data.view(">u8").astype(np.uint64) if data.all() else None  # .all(): no NUL byte
    long = lengths > PACK_BYTES
    if long.any():
        if (long & keep).any():
            return None
        lengths = np.where(long, 0, lengths)
    if not len(data):
        return np.zeros(n, np.uint64)
    if not data.all():  # a NUL byte: "a" and "a\0" would pack alike
        return None
    full = lengths == PACK_BYTES
    if not long.any() and full.sum() * PACK_BYTES == len(data):  # 8 bytes or empty: one view
        out = np.zeros(n, np.uint64)
        out[full] = np.frombuffer(data.data, ">u8")
        return out
    padded = np.zeros(len(data) + PACK_BYTES, np.uint8)
    padded[: len(data)] = data
    # The 8 bytes from each offset, big-endian (an unaligned view), cut to the value's length.
    words = np.ndarray((len(data) + 1,), ">u8", padded.data, 0, (1,))
    return words[offsets[:-1] - start].astype(np.uint64) & _MASKS[lengths]


def pack_column(column: pa.ChunkedArray, keep: np.ndarray) -> np.ndarray | None:
    """:func:`pack_strings` of each chunk of ``column``, joined; None if a chunk does not pack."""
    parts, start = [], 0
    for chunk in column.chunks:
        packed = pack_strings(chunk, keep[start : start + len(chunk)])
        if packed is None:
            return None
        parts.append(packed)
        start += len(chunk)
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)

