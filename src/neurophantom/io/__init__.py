"""File formats: atomic writes, Parquet tables, JSON headers (OME-Zarr and NWB live beside)."""

from ._atomic import atomic_write_bytes as atomic_write_bytes
from ._atomic import atomic_write_json as atomic_write_json
from ._atomic import atomic_write_text as atomic_write_text
from ._atomic import atomic_dir as atomic_dir
from ._atomic import read_json as read_json
from ._atomic import contained as contained
from ._atomic import file_checksums as file_checksums
from ._atomic import sweep_stale as sweep_stale
from ._atomic import verify_checksums as verify_checksums
from ._limits import check_memory as check_memory
from ._limits import memory_budget_bytes as memory_budget_bytes
from ._limits import nbytes_of as nbytes_of
from ._parse import loads_json as loads_json
from ._parse import loads_yaml as loads_yaml
from ._parse import parse_option_value as parse_option_value
from ._parse import read_config_file as read_config_file
