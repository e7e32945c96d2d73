"""Arrow arrays from numpy arrays and strings, without pyarrow's pandas check.

``pa.array`` (and ``pa.table`` of a dict, ``Table.take`` of a numpy array, ``pq.read_table``, an array's
``to_numpy``) first asks whether its argument is a pandas object, and that question imports pandas: half a
second added to every run of the archive job, which never uses pandas on the Parquet path. Numeric arrays
are wrapped here as they are and read back from their buffer (no copy either way; the Arrow buffer keeps
the numpy array alive), strings packed into one buffer, and Parquet bytes read through ``ParquetFile``,
none of which asks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

# The price columns of ``schema.TABLE`` as Arrow types, in table order: the Parquet imports and the export
# write them alike.
PRICE_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("open", pa.float64()), ("high", pa.float64()), ("low", pa.float64()), ("close", pa.float64()),
    ("volume", pa.float64()), ("trade_count", pa.int64()), ("vwap", pa.float64()))


def array(values: np.ndarray, type: pa.DataType | None = None) -> pa.Array:
    """A one-dimensional numeric numpy array as an Arrow array without nulls, zero-copy. ``type``: an
    Arrow type of the same width (a ``timestamp('us')`` over int64 microseconds), default the array's."""
    values = np.ascontiguousarray(values)
    if values.ndim != 1 or values.dtype.kind not in "iuf":
        raise TypeError(f"a one-dimensional numeric array, not {values.dtype} of {values.ndim} dimensions")
    arrow_type = pa.from_numpy_dtype(values.dtype) if type is None else type
    if arrow_type.bit_width != values.dtype.itemsize * 8:
        raise TypeError(f"{arrow_type} is not {values.dtype.itemsize * 8} bits wide like {values.dtype}")
    return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(values)])


def to_numpy(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A fixed-width column without nulls as a read-only numpy array (timestamps as ``datetime64`` of their
    unit), zero-copy when it is one chunk."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if column.null_count or not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                                 or pa.types.is_timestamp(kind)):
        raise TypeError(f"a numeric or timestamp column without nulls, not {kind} with {column.null_count} nulls")
    dtype = np.dtype(f"datetime64[{kind.unit}]") if pa.types.is_timestamp(kind) else np.dtype(kind.to_pandas_dtype())
    return np.frombuffer(column.buffers()[1], dtype=dtype, count=len(column), offset=column.offset * dtype.itemsize)


def strings(values: Sequence[str]) -> pa.Array:
    """Strings (no nulls) as an Arrow ``string`` array."""
    encoded = [v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def read_parquet(source) -> pa.Table:
    """A Parquet file (a path or a file object) as an Arrow table."""
    import pyarrow.parquet as pq
    return pq.ParquetFile(source).read()
