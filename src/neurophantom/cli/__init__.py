"""The ``neurophantom`` command: one subcommand per stage.

Every user error ends the process with exit code 2 and one line on stderr starting with
``error:``; tracebacks are reserved for bugs. Warnings raised while a command runs are
shown after it succeeds and dropped when it fails, so a failure is exactly one line.

Ctrl-C (SIGINT) and SIGTERM always end the command with ``error: interrupted`` (exit 130)
or ``error: terminated`` (exit 143), wherever the signal lands: :func:`main` installs its
own handlers, which note the signal and raise ``KeyboardInterrupt``; if library code
swallows or wraps that exception (a JAX host callback turns it into a runtime error),
the noted signal still decides the exit. Temporary files are removed on the way out.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import warnings

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



def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("neurophantom")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            from .. import __version__ as v
        print(f"neurophantom {v}")
        raise _Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version, help="print the version and exit"),
) -> None:
    """An in-silico brain-uploading pipeline with known ground truth."""


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
from . import atlas as _atlas  # noqa: E402,F401
from . import study as _study  # noqa: E402,F401


def _fail(msg: str) -> int:
    msg = " ".join(str(msg).split())  # one line, always
    print(f"error: {msg}", file=sys.stderr)
    return 2


_SIGNALS = {signal.SIGINT: ("interrupted", 130), signal.SIGTERM: ("terminated", 143)}


@contextlib.contextmanager
def _signals(caught: list):
    """Note SIGINT/SIGTERM in ``caught`` and raise KeyboardInterrupt (main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    from ..io._atomic import _SHIELD

    def handler(signum, frame):
        caught.append(signum)
        if _SHIELD["depth"] > 0:  # a temporary entry is being made or removed: raise after it
            _SHIELD["pending"].append(signum)
            return
        raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (also used by tests in-process)."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
    caught: list[int] = []
    with warnings.catch_warnings(record=True) as seen:
        with _signals(caught):
            try:
                code = _dispatch(argv)
            except KeyboardInterrupt:
                caught.append(signal.SIGINT)
                code = 130
            except BaseException:  # noqa: BLE001 - after a noted signal that decides; bugs still raise
                if not caught:
                    raise
                code = 130
    if caught:
        word, code = _SIGNALS[caught[0]]
        print(f"error: {word}; finished artifacts are kept, unfinished ones were not written", file=sys.stderr)
        return code
    if code == 0:
        for w in seen:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return code


_COMMAND = None


def _dispatch(argv: list[str] | None) -> int:
    import typer.main

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # The click command is run directly (not through click's ``main``), so that
        # Ctrl-C reaches us as KeyboardInterrupt, not as click's Abort after a blank line.
        global _COMMAND
        if _COMMAND is None:  # built once: typer introspects every command to build it
            _COMMAND = typer.main.get_command(app)
        cmd = _COMMAND
        if not args:
            args = ["--help"]
        with cmd.make_context("neurophantom", args) as ctx:
            rv = cmd.invoke(ctx)
        return int(rv) if isinstance(rv, int) and not isinstance(rv, bool) else 0
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
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        return _fail(f"{exc.strerror or exc.__class__.__name__}: {exc.filename}")
    except MemoryError:
        return _fail("out of memory; reduce the problem size (or NEUROPHANTOM_MEMORY_BUDGET_GB)")
    except BrokenPipeError:
        # Output piped into a reader that closed early (e.g. `| head`): not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except OSError as exc:
        if exc.errno is not None and exc.errno in (28, 122):  # ENOSPC, EDQUOT
            return _fail(f"no space left to write the output ({exc.strerror})")
        raise


def run() -> None:  # pragma: no cover - console-script shim
    sys.exit(main())
