"""Compiled programs that a second run neither retraces nor recompiles: `compile_program`.

JAX's persistent compilation cache saves XLA's work, but its key is the lowered program,
so every run still traces and lowers the Python function first: for the fit's optimiser
loop (a vmapped Levenberg-Marquardt step around a forward-mode diffrax solve) that is
5-6 s on 2 cores, more than the whole warm fit. Here a program is exported once
(`jax.export`: traced and lowered to StableHLO) and the export is kept beside JAX's
cache, keyed by everything that selects the program: the name, the source of alsjax,
the versions of jax, diffrax, equinox and optax, the arguments' tree structure (with
every static field) and their shapes and dtypes, and the backend. A later run
deserialises it instead of tracing, and XLA's compilation of it is a persistent-cache hit.

Only when JAX's persistent cache is switched on (`jax_compilation_cache_dir`, as the
CLI does), and only for programs free of host callbacks (equinox's runtime checks are
host callbacks unless `EQX_ON_ERROR=nan`, which the CLI sets): otherwise, or if export
fails for any reason, the program is a plain `jax.jit(fn).lower(...).compile()`.

`prefetch_program` compiles such a program in a background thread, for a later step
(the fit's report solve), from the moment the foreground has lowered a program marked
`long` (the fit's optimiser): XLA compiles that one outside the GIL, so the prefetch's
trace runs beside it. Started earlier, it would be traced beside the foreground's own
trace, and one GIL would slow that by about the prefetch's length.
`during_long_compile` holds other Python work (an import) back the same way.

`quick=True` compiles a program whose compilation outweighs its run (it runs once, or
briefly) with `QUICK_COMPILE`: on the CPU, XLA's older loop emitters, which compile this
model's programs in 12-30 % less time and run them up to 1.4 times slower
(`benchmarks/bench_emitters.py`). An option of one program, not a global setting.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

_SUBDIR = "alsjax-programs"


def to_device(x, dtype=None) -> jax.Array:
    """Host values (NumPy arrays, lists, numbers) on the default device, as they are.

    `jnp.asarray`, `jnp.zeros`, `jnp.stack` or `jnp.linspace` on host values each run an
    XLA program of their own, loaded (or compiled) on every run of the command line;
    `device_put` of a NumPy array runs none."""
    return jax.device_put(np.asarray(x, dtype))


QUICK_COMPILE = {"xla_cpu_use_fusion_emitters": False}
"""XLA options for `compile_program(..., quick=True)` on the CPU."""


@functools.cache
def quick_compile_options() -> dict:
    """`QUICK_COMPILE` where it applies: on the CPU backend, where this jaxlib knows the
    option, and where `XLA_FLAGS` does not choose the emitters already (the user's choice
    stands). Otherwise no options."""
    if jax.default_backend() != "cpu" or "xla_cpu_use_fusion_emitters" in os.environ.get(
            "XLA_FLAGS", ""):
        return {}
    try:  # an option this jaxlib does not know is an error at compile time
        _jitted(jnp.negative).lower(np.float32(0)).compile(QUICK_COMPILE)
    except Exception:  # noqa: BLE001 - any refusal means: compile as usual
        return {}
    return dict(QUICK_COMPILE)


def compile_options(quick: bool) -> dict:
    """The options a program compiles with: `quick_compile_options()` if `quick`, else none."""
    return quick_compile_options() if quick else {}


_MEMO: dict[str, Future] = {}  # key -> compiled program (or its compilation), this process
_DEFERRED: dict[str, threading.Thread] = {}  # key -> prefetch or task awaiting a long compile
_MEMO_LOCK = threading.Lock()


@functools.cache
def _jitted(fn: Callable) -> Callable:
    return jax.jit(fn)  # one per function, so its in-memory trace cache is kept


@functools.cache
def _source_digest() -> str:
    """Hash of alsjax's source and the versions of the libraries its programs trace."""
    from importlib.metadata import version

    import diffrax
    import equinox
    import jaxlib

    h = hashlib.sha256()
    for v in (jax.__version__, jaxlib.__version__, diffrax.__version__, equinox.__version__,
              version("optax"), os.environ.get("EQX_ON_ERROR", "")):
        h.update(v.encode() + b"\0")
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _cache_dir() -> Path | None:
    d = jax.config.jax_compilation_cache_dir
    return Path(d) / _SUBDIR if d else None


def _key(name: str, leaves, treedef, options: dict) -> str:
    h = hashlib.sha256()
    h.update(f"{name}\0{_source_digest()}\0{treedef}\0{jax.default_backend()}\0"
             f"{jax.config.jax_enable_x64}\0{sorted(options.items())}\0".encode())
    for leaf in leaves:
        h.update(f"{jax.typeof(leaf)}\0".encode())
    return h.hexdigest()[:40]


def _start_deferred() -> None:
    """Start every prefetch and task held back for a long compilation."""
    with _MEMO_LOCK:
        waiting = list(_DEFERRED.values())
        _DEFERRED.clear()
    for thread in waiting:
        thread.start()


def _compile(lowered, options: dict, long: bool):
    """XLA's compilation of `lowered`; a `long` one first lets the deferred prefetches
    go, to be traced while XLA works outside the GIL."""
    if long:
        _start_deferred()
    return lowered.compile(options)


def compile_program(fn: Callable, *args, name: str | None = None,
                    cache_dir: str | os.PathLike | None = None,
                    quick: bool = False, long: bool = False) -> Callable:
    """`jax.jit(fn).lower(*args).compile()`, as a callable of the same arguments (pytrees
    of the same structure, shapes and dtypes), kept across processes when JAX's
    persistent cache is on (see the module docstring). `cache_dir`: where to keep the
    exports instead of beside JAX's cache. `quick`: for a program that runs once or
    briefly, compile it with `compile_options(quick)`. `long`: its XLA compilation is the
    long wait of the command, behind which deferred prefetches are traced. A program
    `prefetch_program` started is waited for, not compiled again."""
    name = name or getattr(fn, "__qualname__", repr(fn))
    options = compile_options(quick)
    folder = Path(cache_dir) / _SUBDIR if cache_dir is not None else _cache_dir()
    if folder is None:  # nothing is kept: no key, no memo
        return _compile(_jitted(fn).lower(*args), options, long)
    key, leaves, treedef = _keyed(name, args, options)
    with _MEMO_LOCK:
        _DEFERRED.pop(key, None)  # a prefetch not yet started: compiled here instead
        pending = _MEMO.get(key)
        owner = pending is None
        if owner:
            pending = _MEMO[key] = Future()
    if not owner:
        return pending.result()
    try:
        program = _exported_or_jitted(fn, args, leaves, treedef, folder / f"{key}.bin",
                                      options, long)
    except BaseException as e:
        with _MEMO_LOCK:
            del _MEMO[key]  # a later call tries again (and raises for itself)
        pending.set_exception(e)
        raise
    pending.set_result(program)
    return program


def prefetch_program(fn: Callable, *args, name: str | None = None,
                     cache_dir: str | os.PathLike | None = None, quick: bool = False) -> None:
    """`compile_program(fn, *args)` in a background thread started with the foreground's
    next long compilation (see the module docstring); returns at once. The later call with
    arguments of the same structure, shapes and dtypes waits for it, or, if it has not
    started, compiles the program itself. Only with the persistent cache on (otherwise
    nothing is kept for the later call). An error here is dropped: the later call meets
    it again and raises it there."""
    folder = Path(cache_dir) / _SUBDIR if cache_dir is not None else _cache_dir()
    if folder is None:
        return
    name = name or getattr(fn, "__qualname__", repr(fn))
    key, _, _ = _keyed(name, args, compile_options(quick))
    _defer(key, f"compile {name}",
           lambda: compile_program(fn, *args, name=name, cache_dir=cache_dir, quick=quick))


def during_long_compile(task: Callable[[], None], name: str) -> None:
    """Run `task`, Python work a later step needs (importing the plotting library), in a
    background thread once the foreground lowers its next program marked `long`: while
    XLA compiles that program the GIL is free. An error in `task` is dropped; the later
    step meets it again."""
    _defer(f"task {name}", name, task)


def _defer(key: str, name: str, task: Callable[[], object]) -> None:
    """Hold `task` back, under `key`, for `_start_deferred`; unless `key` is a program
    already compiled or compiling."""

    def quietly() -> None:
        try:
            task()
        except BaseException:  # noqa: BLE001 - raised again by the step that needs it
            pass

    with _MEMO_LOCK:
        if key not in _MEMO:
            _DEFERRED[key] = threading.Thread(target=quietly, name=name, daemon=True)


def _keyed(name: str, args, options: dict):
    """The key of program `name` for `args`, with the arguments' leaves (on the device)
    and tree structure."""
    leaves, treedef = jax.tree.flatten(args)
    leaves = [to_device(leaf) if isinstance(leaf, np.ndarray | np.generic)
              else jnp.asarray(leaf) for leaf in leaves]
    return _key(name, leaves, treedef, options), leaves, treedef


def _exported_or_jitted(fn: Callable, args, leaves, treedef, path: Path,
                        options: dict, long: bool) -> Callable:
    """The program from its export at `path` (written first if missing), or plainly
    jitted where it cannot be exported (host callbacks, unserialisable trees)."""
    folder = path.parent
    unexportable = path.with_suffix(".none")  # export failed once: do not try again
    if unexportable.exists():
        return _compile(_jitted(fn).lower(*args), options, long)
    try:
        if path.exists():
            blob, out_tree = pickle.loads(path.read_bytes())
            exported = jax.export.deserialize(blob)
        else:
            holder = {}

            def flat(*flat_args):
                out = fn(*jax.tree.unflatten(treedef, flat_args))
                out_leaves, holder["tree"] = jax.tree.flatten(out)
                return out_leaves

            exported = jax.export.export(jax.jit(flat))(*leaves)
            out_tree = holder["tree"]
            folder.mkdir(parents=True, exist_ok=True)
            data = pickle.dumps((exported.serialize(), out_tree))
            with tempfile.NamedTemporaryFile(dir=folder, delete=False) as f:
                f.write(data)
            os.replace(f.name, path)  # atomic: a concurrent run sees all or nothing
        compiled = _compile(jax.jit(exported.call).lower(*leaves), options, long)
        return lambda *args: jax.tree.unflatten(out_tree, compiled(*jax.tree.leaves(args)))
    except Exception:  # noqa: BLE001 - host callbacks, unserialisable trees: no shortcut
        try:
            folder.mkdir(parents=True, exist_ok=True)
            unexportable.touch()
        except OSError:
            pass
        return _compile(_jitted(fn).lower(*args), options, long)
