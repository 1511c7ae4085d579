"""Atomic output: one file (a temporary file beside the target, then a rename) and a
whole folder of a run's outputs (a temporary folder beside the target, swapped in).

An interrupted run never leaves a half-written file, nor a folder that mixes two runs:
the target holds either the old set or the new one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from ._errors import ALSJaxError

OUTPUT_MARKER = "alsjax_output"
"""Key of summary.json that marks a folder as an alsjax run's output (value: its kind)."""

# Held while a folder of outputs is staged and swapped in. The command line takes it when
# Ctrl-C arrives (the run itself goes on in a worker thread until the process exits), so
# the process never ends half-way through a swap and no swap starts after the interrupt.
WRITE_LOCK = threading.Lock()


# Temporary files of `atomic_open` still being written: what an interrupted command line
# deletes (`remove_open_temps`) before it exits, since the abandoned writer never will.
_OPEN_TEMPS: set[str] = set()


def remove_open_temps() -> None:
    """Delete the temporary files of writes still in progress (called on Ctrl-C, with the
    output lock held): an interrupted run leaves no half file, hidden or not."""
    for tmp in list(_OPEN_TEMPS):
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it onto `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    _OPEN_TEMPS.add(tmp)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        _OPEN_TEMPS.discard(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_savefig(fig, path: str | os.PathLike, **kwargs) -> None:
    """Save a matplotlib figure atomically (format from the target's suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format=fmt, **kwargs)


def json_float(x, digits: int = 10) -> float | None:
    """A float for JSON, to `digits` significant digits (None for inf and NaN, which JSON
    lacks); a plain Python float whatever the input's dtype."""
    x = float(x)
    return float(f"{x:.{digits}g}") if math.isfinite(x) else None


def versions(packages: tuple[str, ...] = ("alsjax", "jax", "jaxlib", "diffrax", "equinox",
                                          "optax", "numpy")) -> dict[str, str]:
    """Installed versions of `packages` ("unknown" for one that is not installed), for the
    provenance records of output files."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def process_age() -> float | None:
    """Seconds since this process started (Linux, to 0.01 s: /proc), None elsewhere: in
    summary.json, the start-up (interpreter, imports) before the run's first phase."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return None


def peak_memory(n_devices: int = 1) -> dict[str, int | None]:
    """This process's peak memory so far, for summary.json: `peak_device_memory_bytes`,
    the sum of the allocator's peak over the first `n_devices` local devices (None where
    the backend does not report it, as on CPU), and `peak_host_memory_bytes`, the peak
    resident set size (`ru_maxrss`: kilobytes on Linux, bytes on macOS)."""
    import resource
    import sys

    import jax

    device = 0
    for d in jax.local_devices()[:max(int(n_devices), 1)]:
        stats = d.memory_stats() or {}
        if "peak_bytes_in_use" not in stats:
            device = None
            break
        device += int(stats["peak_bytes_in_use"])
    rss = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return {"peak_device_memory_bytes": device,
            "peak_host_memory_bytes": rss if sys.platform == "darwin" else rss * 1024}


# --- a folder of outputs, as one set ----------------------------------------------------


def _staging(out: Path, what: str, pid: int | None = None) -> Path:
    return out.parent / f".{out.name}.alsjax-{what}-{os.getpid() if pid is None else pid}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recover(out: Path) -> None:
    """Tidy what a process that died mid-swap left beside `out`: a staged new set is
    deleted (it may be incomplete); an old set moved aside comes back when `out` is
    missing (the swap never finished, so the old set is the last complete one)."""
    if not out.parent.is_dir():
        return
    for p in out.parent.glob(f".{out.name}.alsjax-*-*"):
        what, _, pid = p.name.rpartition(".alsjax-")[2].partition("-")
        if not pid.isdigit() or _alive(int(pid)) or not p.is_dir():
            continue
        if what == "old" and not out.exists():
            os.rename(p, out)
        else:
            shutil.rmtree(p, ignore_errors=True)


def is_alsjax_output(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds an earlier alsjax run: a summary.json with the alsjax marker
    (or, from before the marker, alsjax among its recorded versions)."""
    try:
        summary = json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and (
        OUTPUT_MARKER in summary or "alsjax" in (summary.get("versions") or {}))


def output_folder_state(out: str | os.PathLike) -> str:
    """What `out` is now: "missing", "empty", "alsjax" (an earlier run) or "other"."""
    out = Path(out)
    if not out.exists():
        return "missing"
    if not out.is_dir():
        return "other"
    if not any(out.iterdir()):
        return "empty"
    return "alsjax" if is_alsjax_output(out) else "other"


def check_output_folder(out: str | os.PathLike, *, force: bool = False) -> str:
    """Check, before any work, that a run's outputs can replace `out` as a whole: it is
    not a file, holds nothing but an earlier alsjax run (unless `force`), and its parent
    can take the temporary folder. Returns `output_folder_state(out)`; creates nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ALSJaxError(f"--out {out}: exists and is not a folder")
    _recover(out)
    state = output_folder_state(out)
    if state == "other" and not force:
        names = sorted(p.name for p in out.iterdir())
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise ALSJaxError(f"--out {out}: the folder holds files that are not an alsjax run "
                          f"({shown}); choose another folder, or pass --force to replace "
                          "it as a whole")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        if not parent.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".alsjax-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ALSJaxError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    return state


def _write_file(path: Path, content: str | bytes) -> None:
    """One file of a set, flushed to disk (the swap must not publish empty files)."""
    with open(path, "wb") as f:
        f.write(content.encode("utf-8") if isinstance(content, str) else content)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_folder(out: str | os.PathLike, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write `files` (name -> text or bytes) as the whole content of folder `out`.

    They are written into a temporary folder beside `out`; when all are on disk, the old
    `out` (if any) is renamed aside, the new one renamed in, and the old one deleted. A
    failure while writing deletes the temporary folder and leaves `out` as it was; a
    crash between the two renames leaves the old set complete beside `out`, and the next
    `check_output_folder` puts it back. Any write error is one `ALSJaxError` line naming
    the file. Returns the paths of the files in `out`.
    """
    out = Path(out)
    with WRITE_LOCK:
        new, old = _staging(out, "new"), _staging(out, "old")
        target = out
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(new, ignore_errors=True)
            new.mkdir()
            for name, content in files.items():
                target = out / name
                _write_file(new / name, content)
            _fsync_dir(new)
            target = out
            if out.exists():
                os.rename(out, old)
                try:
                    os.rename(new, out)
                except OSError:
                    os.rename(old, out)
                    raise
                _fsync_dir(out.parent)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(new, out)
                _fsync_dir(out.parent)
        except OSError as e:
            shutil.rmtree(new, ignore_errors=True)
            raise ALSJaxError(f"cannot write {target}: {e.strerror or e}; {out} was left as "
                              "it was") from None
        except BaseException:  # Ctrl-C in a Python session: the old set stays in place
            if old.exists() and not out.exists():
                os.rename(old, out)
            shutil.rmtree(new, ignore_errors=True)
            raise
    return [out / name for name in files]
