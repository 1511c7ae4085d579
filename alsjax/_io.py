"""Atomic file output: write to a temporary file beside the target, then rename.

An interrupted run never leaves a half-written file: the target either has its old
content or the new one.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it onto `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
