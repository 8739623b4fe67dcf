"""File formats: atomic writes, Parquet tables, JSON headers (OME-Zarr and NWB live beside)."""

from ._atomic import atomic_write_bytes as atomic_write_bytes
from ._atomic import atomic_write_json as atomic_write_json
from ._atomic import atomic_write_text as atomic_write_text
from ._atomic import atomic_dir as atomic_dir
from ._atomic import read_json as read_json
