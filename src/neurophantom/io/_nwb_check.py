"""Checks of an NWB (HDF5) file before pynwb builds anything from it, and of the arrays
read from it.

- :func:`check_hdf5`: the file opens as HDF5; it holds no external link (a link to another
  file, e.g. ``/etc/passwd``, reads outside the artifact) and no dataset whose declared
  size exceeds the memory budget (a dataset declared 10^6 x 10^5 float64 and stored as fill
  value takes no disk space but 745 GiB once read).
- :func:`read_array`: one dataset read whole after checking its rank, kind (numbers, not
  text) and size against the budget, then that its values are finite.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import CorruptDataError, NeurophantomError
from ._limits import check_memory, nbytes_of
from ._parse import loads_json


def check_hdf5(path: str | os.PathLike, what: str) -> None:
    """Refuse a file that is not HDF5, holds an external link, or declares a dataset (or
    datasets together) larger than the memory budget."""
    import h5py

    path = Path(path)
    try:
        fh = h5py.File(path, "r")
    except Exception as exc:  # h5py raises OSError and others for non-HDF5 content
        raise CorruptDataError(f"{path} is not {what} (not HDF5: {exc.__class__.__name__})") from None
    total = 0
    try:
        todo = [fh]
        seen = 0
        while todo:
            grp = todo.pop()
            for name in grp:
                seen += 1
                if seen > 1_000_000:
                    raise CorruptDataError(f"{path}: more than 10^6 HDF5 objects")
                link = grp.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    raise CorruptDataError(f"{path}: {grp.name.rstrip('/')}/{name} is a link to another file "
                                           f"({link.filename}); refused: an artifact is read only from itself")
                if isinstance(link, h5py.SoftLink):
                    continue  # a path inside this file; its target is visited where it lives
                obj = grp.get(name)
                if isinstance(obj, h5py.Group):
                    todo.append(obj)
                elif isinstance(obj, h5py.Dataset):
                    size = nbytes_of(obj.shape or (), max(obj.dtype.itemsize, 1))
                    check_memory(size, f"{path}: dataset {obj.name} of shape {list(obj.shape)}")
                    total += size
        check_memory(total, f"{path}: all datasets together")
    except NeurophantomError:
        raise
    except Exception as exc:
        raise CorruptDataError(f"{path} is not {what} (unreadable HDF5: {exc.__class__.__name__})") from None
    finally:
        fh.close()


def read_array(ds: Any, where: str, *, ndim: int, kind: str = "f", finite: bool = True) -> np.ndarray:
    """``ds[...]`` after checking rank, element kind (``"f"`` float, ``"i"`` integer,
    ``"fi"`` either) and size; finite values required for floats."""
    shape = tuple(getattr(ds, "shape", np.shape(ds)))
    if len(shape) != ndim:
        raise CorruptDataError(f"{where}: expected {ndim}-d data, got shape {list(shape)}")
    dtype = np.dtype(getattr(ds, "dtype", np.asarray(ds).dtype))
    if dtype.kind == "b" or dtype.kind not in (("f", "i", "u") if "f" in kind else ("i", "u")):
        raise CorruptDataError(f"{where}: expected {'numbers' if 'f' in kind else 'integers'}, got {dtype} data")
    check_memory(nbytes_of(shape, dtype.itemsize), f"{where} ({list(shape)} {dtype})")
    arr = np.asarray(ds[()] if hasattr(ds, "shape") and not isinstance(ds, np.ndarray) else ds)
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise CorruptDataError(f"{where}: holds non-finite values (NaN or infinity)")
    return arr


def read_json_cell(table: Any, where: str) -> Any:
    """The JSON text in the first row of a one-column ``json`` table, bounded."""
    col = table["json"].data
    if len(col) != 1:
        raise CorruptDataError(f"{where}: expected one JSON row, got {len(col)}")
    text = col[0]
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise CorruptDataError(f"{where}: the JSON cell is not text")
    return loads_json(text, where, max_bytes=16 << 20)
