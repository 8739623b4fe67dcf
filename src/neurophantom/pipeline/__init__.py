"""The pipeline runner: stages as a graph, cached by config hash, resumable."""

from .runner import Stage as Stage
from .runner import StageResult as StageResult
from .runner import read_cache_log as read_cache_log
from .runner import run_pipeline as run_pipeline
from .runner import stage_folder as stage_folder
from .runner import stage_keys as stage_keys
from .runner import upstream as upstream
