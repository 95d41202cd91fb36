#!/usr/bin/python3
"""Writes the zarr v2 fixtures in this directory with zarr-python 2.13 + numcodecs.

Run from this directory:  /usr/bin/python3 generate.py
Each <name>/ is a zarr v2 array (DirectoryStore); <name>.expected holds the
whole array as raw little-endian bytes in C order, which the reader must
reproduce. Keep every array tiny.
"""
import os
import shutil

import numpy as np
import zarr
from numcodecs import GZip, Zlib, Zstd, Blosc


def write(name, shape, chunks, dtype, data=None, region=None, **kwargs):
    if os.path.exists(name):
        shutil.rmtree(name)
    store = zarr.DirectoryStore(name, dimension_separator=kwargs.pop("dimension_separator", "."))
    z = zarr.create(shape=shape, chunks=chunks, dtype=dtype, store=store, **kwargs)
    if data is not None:
        if region is None:
            z[...] = data
        else:
            z[region] = data
    full = z[...]
    le = np.ascontiguousarray(full).astype(np.dtype(dtype).newbyteorder("<"))
    with open(name + ".expected", "wb") as f:
        f.write(le.tobytes())


# F order, edge chunks on both axes, zlib.
write("f_order_zlib", (5, 7), (2, 3), "<i4", np.arange(35, dtype="<i4").reshape(5, 7) - 10,
      order="F", compressor=Zlib(level=1))
# Big-endian, '/' separator, gzip, fill value 42 with missing chunks.
write("slash_be_gzip_fill", (6, 4), (4, 3), ">i4", np.arange(12).reshape(4, 3),
      region=(slice(0, 4), slice(0, 3)), dimension_separator="/", compressor=GZip(level=5),
      fill_value=42)
# bool with blosc zstd bit-shuffle.
write("bool_blosc", (3, 5), (2, 2), "|b1", (np.arange(15) % 3 == 0).reshape(3, 5),
      compressor=Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE))
# Big-endian complex64, uncompressed, complex fill value for missing chunks.
write("complex_c8_be", (7,), (3,), ">c8", np.array([1 - 1j, 2 - 2j, 3.5 + 0.25j]),
      region=slice(0, 3), compressor=None, fill_value=1.5 - 2j)
# complex128 in F order with zstd.
write("complex_c16_f", (2, 3), (2, 2), "<c16",
      (np.arange(6) + 1j * np.arange(6, 12)).reshape(2, 3), order="F", compressor=Zstd(level=3))
# float16 with a NaN fill value and missing chunks.
write("float16_nan_fill", (5,), (2,), "<f2", np.array([0.5, -1.25]), region=slice(0, 2),
      fill_value=np.nan, compressor=Zstd(level=1))
# Rank 0, big-endian float64, zstd.
write("rank0_be_f8", (), (), ">f8", np.array(3.25), compressor=Zstd(level=1))
# uint8, default blosc (lz4), edge chunk, integer fill value.
write("uint8_blosc_edge", (10,), (4,), "|u1", np.arange(10, 20), fill_value=7)
# 3-D big-endian float64 in F order with gzip.
write("f_order_be_f8_3d", (3, 4, 5), (2, 3, 2), ">f8",
      np.arange(60, dtype="f8").reshape(3, 4, 5) * 0.5, order="F", compressor=GZip(level=1))
