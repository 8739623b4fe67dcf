"""The ``neurophantom`` command: one subcommand per stage.

Every user error ends the process with exit code 2 and one line on stderr starting with
``error:``; tracebacks are reserved for bugs.
"""

from __future__ import annotations

import os
import sys

import typer

try:  # typer >= 0.20 vendors click as typer._click; Abort/Exit live in typer.exceptions
    from typer._click import exceptions as _cx
    from typer.exceptions import Abort as _Abort
    from typer.exceptions import Exit as _Exit
except ImportError:  # pragma: no cover - older typer on real click
    from click import exceptions as _cx
    from click.exceptions import Abort as _Abort
    from click.exceptions import Exit as _Exit

from .._errors import NeurophantomError

app = typer.Typer(
    name="neurophantom",
    help="An in-silico brain-uploading pipeline with known ground truth.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Each module registers its subcommands on ``app`` (import order = help order).
from . import run as _run  # noqa: E402,F401
from . import circuit as _circuit  # noqa: E402,F401
from . import simulate as _simulate  # noqa: E402,F401
from . import record as _record  # noqa: E402,F401
from . import info as _info  # noqa: E402,F401
from . import plan as _plan  # noqa: E402,F401
from . import task_score as _task_score  # noqa: E402,F401
from . import scan as _scan  # noqa: E402,F401
from . import export as _export  # noqa: E402,F401
from . import tissue as _tissue  # noqa: E402,F401
from . import reconstruct as _reconstruct  # noqa: E402,F401
from . import score as _score  # noqa: E402,F401
from . import study as _study  # noqa: E402,F401


def _fail(msg: str) -> int:
    msg = " ".join(str(msg).split())  # one line, always
    print(f"error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (also used by tests in-process)."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="neurophantom")
        return int(rv) if isinstance(rv, int) else 0
    except NeurophantomError as exc:
        return _fail(str(exc))
    except _cx.UsageError as exc:
        return _fail(exc.format_message())
    except _Abort:
        return _fail("aborted")
    except _Exit as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except _cx.ClickException as exc:
        return _fail(exc.format_message())
    except KeyboardInterrupt:
        print("error: interrupted; finished artifacts are kept, unfinished ones were not written", file=sys.stderr)
        return 130
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        return _fail(f"{exc.strerror or exc.__class__.__name__}: {exc.filename}")
    except BrokenPipeError:
        # Output piped into a reader that closed early (e.g. `| head`): not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


def run() -> None:  # pragma: no cover - console-script shim
    sys.exit(main())
