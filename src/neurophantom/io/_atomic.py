"""Crash-safe writes.

A file is written under a temporary name in the same folder, flushed and fsynced, then
renamed over its final name (``os.replace`` is atomic on POSIX). A folder artifact is
built in a temporary sibling folder and renamed into place only when complete; an
existing folder is swapped for the new one in one ``renameat2(RENAME_EXCHANGE)`` call
where the kernel has it. A run killed at any point (Ctrl-C, ``kill -9``) therefore leaves
either the old artifact or the new one, never a half-written file under the final name.

Temporary entries are named ``.tmp-<name>.p<pid>-<start>.<random>`` (``<start>``: the
owner's start time in clock ticks since boot). Ctrl-C and SIGTERM remove them on the
way out; after ``kill -9`` the next write beside them removes those whose owner process
is gone (:func:`sweep_stale`), so no command leaves them behind for long.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import google_crc32c

from .._errors import CorruptDataError, NeurophantomError
from ._parse import MAX_BYTES, loads_json, read_text


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _start_ticks(pid: int) -> str | None:
    """Start time of process ``pid`` (clock ticks since boot), None if it does not run."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        if not os.path.isdir("/proc"):  # no procfs: liveness by signal 0
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            except OSError:
                return "?"
            return "?"
        return None


_OWNER = f"p{os.getpid()}-{_start_ticks(os.getpid()) or '0'}"
_OWNED = re.compile(r"^\.(?:tmp|old)-.*\.p(\d+)-([0-9?]+)\.[^.]+$")


def tmp_prefix(name: str) -> str:
    """Prefix of this process's temporary entries for the artifact ``name``."""
    global _OWNER
    if not _OWNER.startswith(f"p{os.getpid()}-"):  # forked
        _OWNER = f"p{os.getpid()}-{_start_ticks(os.getpid()) or '0'}"
    return f".tmp-{name}.{_OWNER}."


def _owner_alive(entry: str) -> bool:
    m = _OWNED.match(entry)
    if not m:
        return False  # an unnamed leftover (older versions): nobody owns it
    pid, start = int(m.group(1)), m.group(2)
    now = _start_ticks(pid)
    return now is not None and (start in ("0", "?") or now in ("?", start))


def sweep_stale(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove temporary entries (``.tmp-*``, ``.old-*``) in ``folder`` whose owner process
    is gone; with ``name``, only those of that artifact. Returns what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    heads = (f".tmp-{name}.", f".old-{name}.") if name is not None else (".tmp-", ".old-")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        if not e.name.startswith(heads) or _owner_alive(e.name):
            continue
        p = Path(e.path)
        try:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink()
        except OSError:
            continue
        removed.append(p)
    return removed


def file_crc32c(path: str | os.PathLike, *, block: int = 1 << 22) -> int:
    """CRC-32C of a file's bytes, read in blocks."""
    crc = 0
    with open(path, "rb") as fh:
        while True:
            buf = fh.read(block)
            if not buf:
                return crc
            crc = google_crc32c.extend(crc, buf)


def file_checksums(folder: str | os.PathLike, names) -> dict[str, dict[str, int]]:
    """``{name: {"bytes": size, "crc32c": crc}}`` of files ``names`` in ``folder``."""
    folder = Path(folder)
    return {n: {"bytes": (folder / n).stat().st_size, "crc32c": file_crc32c(folder / n)} for n in names}


def verify_checksums(folder: str | os.PathLike, sums: Any, what: str) -> None:
    """Check files against :func:`file_checksums` output read from a header; one-line
    :class:`CorruptDataError` naming the first file that differs."""
    folder = Path(folder)
    if not isinstance(sums, dict) or not sums:
        raise CorruptDataError(f"{what}: no file checksums in the header")
    for name, rec in sums.items():
        if not isinstance(rec, dict) or not isinstance(rec.get("bytes"), int) or not isinstance(rec.get("crc32c"), int):
            raise CorruptDataError(f"{what}: malformed checksum record for {name!r}")
        f = contained(folder, name, what)
        if not f.is_file():
            raise CorruptDataError(f"{what}: {name} is missing")
        size = f.stat().st_size
        if size != rec["bytes"]:
            raise CorruptDataError(f"{what}: {name} is {size} bytes, the header says {rec['bytes']} (truncated or altered)")
        if file_crc32c(f) != rec["crc32c"]:
            raise CorruptDataError(f"{what}: {name} is corrupt (checksum differs from the header)")


def contained(root: str | os.PathLike, rel: Any, what: str) -> Path:
    """``root / rel`` when ``rel`` is a relative path that stays inside ``root`` after
    resolving links; otherwise a :class:`CorruptDataError` (an artifact never points
    outside itself)."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise CorruptDataError(f"{what}: path {rel!r} inside the artifact is not a name")
    if os.path.isabs(rel) or any(part == ".." for part in Path(rel).parts):
        raise CorruptDataError(f"{what}: path {rel!r} points outside the artifact (refused)")
    root = Path(root)
    target = root / rel
    try:
        base = root.resolve()
        real = target.resolve()
    except (OSError, RuntimeError):
        raise CorruptDataError(f"{what}: path {rel!r} cannot be resolved (link loop?)") from None
    if real != base and base not in real.parents:
        raise CorruptDataError(f"{what}: {rel!r} is a link to {real}, outside the artifact (refused)")
    return target


#: Signals that arrive while a temporary entry is being created, renamed or removed are
#: held back until that step is done (the CLI's handlers consult this; see ``cli.main``),
#: so an interrupt never leaves a temporary entry nobody removes, nor a final name missing.
_SHIELD: dict = {"depth": 0, "pending": []}


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    _SHIELD["depth"] += 1
    try:
        yield
    finally:
        _SHIELD["depth"] -= 1
    if _SHIELD["depth"] == 0 and _SHIELD["pending"]:
        _SHIELD["pending"].clear()
        raise KeyboardInterrupt


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent, path.name)
    tmp = None
    try:
        with shielded():
            fd, tmp = tempfile.mkstemp(prefix=tmp_prefix(path.name), dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        with shielded():
            os.replace(tmp, path)
            tmp = None
    except BaseException:
        if tmp is not None:
            with shielded(), contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NaN is refused, not written)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike, what: str = "file", *, max_bytes: int = MAX_BYTES) -> Any:
    """Read a JSON file, bounded (:mod:`._parse`), with a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise NeurophantomError(f"{what} not found: {path}")
    return loads_json(read_text(path, what, max_bytes=max_bytes), f"{what} {path}", max_bytes=max_bytes)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one system call (Linux renameat2); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Build a folder artifact in a temporary sibling, then move it into place.

    Yields the temporary folder to write into. On success the final folder is replaced
    (the old one is removed only after the new one is complete); on any exception the
    temporary folder is deleted and the final path is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise NeurophantomError(f"output already exists: {path}")
    if path.exists() and not path.is_dir():
        raise NeurophantomError(f"output {path} is an existing file, not a folder")
    sweep_stale(path.parent, path.name)
    tmp = None
    try:
        with shielded():
            tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix(path.name), dir=path.parent))
        yield tmp
        _fsync_dir(tmp)
        with shielded():
            if path.exists() and _exchange(tmp, path):
                shutil.rmtree(tmp, ignore_errors=True)  # now holds the old folder
            elif path.exists():
                old = Path(tempfile.mkdtemp(prefix=tmp_prefix(path.name).replace(".tmp-", ".old-", 1), dir=path.parent))
                os.replace(path, old / "x")
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
            tmp = None
        _fsync_dir(path.parent)
    except BaseException:
        if tmp is not None:
            with shielded():
                shutil.rmtree(tmp, ignore_errors=True)
        raise
