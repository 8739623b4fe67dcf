"""Studies: grids of pipeline runs (or other point kinds) over config keys and seeds.

``run_study(load_study(name_or_file), out, quick=..., workers=..., scheduler=...)`` runs a
declarative grid (:mod:`.spec`) on dask.distributed, sharing one stage cache between all
points (:mod:`.execute`), resumable, and writes ``results.parquet``, ``summary.csv``
(bootstrap intervals), figures and ``study.html``. Built-in studies ship as YAML in
``neurophantom/data/studies``; ``builtin_studies()`` lists them.
"""

from .builtin import builtin_studies as builtin_studies
from .builtin import load_study as load_study
from .run import StudyResult as StudyResult
from .run import prepare as prepare
from .run import run_study as run_study
from .spec import StudySpec as StudySpec
from .spec import expand as expand
from .spec import load_study_file as load_study_file
from .spec import parse_study as parse_study
