"""Built-in studies: YAML files shipped in ``neurophantom/data/studies``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from .._errors import NeurophantomError
from .spec import StudySpec, load_study_file, parse_study


def _folder():
    return resources.files("neurophantom") / "data" / "studies"


def builtin_studies() -> dict[str, str]:
    """Name -> one-line title of every built-in study, sorted by name."""
    out = {}
    for f in sorted(_folder().iterdir(), key=lambda f: f.name):
        if f.name.endswith(".yaml"):
            data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            out[f.name[:-5]] = " ".join(str(data.get("title", "")).split())
    return out


def load_study(name_or_file: str | Path) -> StudySpec:
    """A built-in study by name, or a study YAML file by path."""
    p = Path(name_or_file)
    if p.suffix in (".yaml", ".yml", ".json") or p.exists():
        return load_study_file(p)
    f = _folder() / f"{name_or_file}.yaml"
    if not f.is_file():
        raise NeurophantomError(f"no built-in study {str(name_or_file)!r} and no such file "
                                f"(built-in: {', '.join(builtin_studies())})")
    spec = parse_study(yaml.safe_load(f.read_text(encoding="utf-8")), f"{name_or_file} (built-in)")
    if spec.name != str(name_or_file):  # pragma: no cover - guarded by a test over every built-in
        raise NeurophantomError(f"built-in study file {name_or_file}.yaml names itself {spec.name!r}")
    return spec
