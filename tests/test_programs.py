"""`compile_program`: a program exported once is loaded, not traced, by a later run."""

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alsjax import _programs


def _f(x, d):
    return {"y": jnp.sin(x) * d["a"], "n": jnp.sum(x > 0)}


def _with_callback(x):
    jax.debug.callback(lambda v: None, x)
    return x * 2.0


def test_exported_program_is_loaded_not_traced(tmp_path, traces, monkeypatch):
    args = (jnp.linspace(0.0, 1.0, 5), {"a": jnp.asarray(3.0)})
    first = _programs.compile_program(_f, *args, cache_dir=tmp_path)
    files = list((tmp_path / "alsjax-programs").glob("*.bin"))
    assert len(files) == 1
    monkeypatch.setattr(_programs, "_MEMO", {})  # as a new process would start
    before = traces("flat")
    again = _programs.compile_program(_f, *args, cache_dir=tmp_path)
    assert traces("flat") == before  # deserialised, not traced
    a, b, ref = first(*args), again(*args), jax.jit(_f)(*args)
    for k in ref:
        np.testing.assert_array_equal(a[k], ref[k])
        np.testing.assert_array_equal(b[k], ref[k])
    # Other shapes are another program.
    other = (jnp.ones(3), {"a": jnp.asarray(1.0)})
    _programs.compile_program(_f, *other, cache_dir=tmp_path)
    assert len(list((tmp_path / "alsjax-programs").glob("*.bin"))) == 2


def test_host_callbacks_fall_back_to_jit(tmp_path):
    x = jnp.arange(3.0)
    out = _programs.compile_program(_with_callback, x, cache_dir=tmp_path)(x)
    np.testing.assert_array_equal(out, 2.0 * np.arange(3.0))
    assert list((tmp_path / "alsjax-programs").glob("*.none"))


def test_prefetch_starts_with_a_long_compilation(tmp_path, traces, monkeypatch):
    """A prefetch (and a `during_long_compile` task) waits until a program marked `long`
    is lowered; the later call gets the program its thread made."""
    monkeypatch.setattr(_programs, "_MEMO", {})
    monkeypatch.setattr(_programs, "_DEFERRED", {})
    args = (jnp.linspace(0.0, 3.0, 9), {"a": jnp.asarray(2.0)})
    before = traces("flat")  # every exported program is traced as "flat"
    _programs.prefetch_program(_f, *args, cache_dir=tmp_path)
    ran = threading.Event()
    _programs.during_long_compile(ran.set, "test task")
    _programs.compile_program(jnp.cos, jnp.ones(4), cache_dir=tmp_path)  # not long
    assert traces("flat") == before + 1 and not ran.is_set()
    _programs.compile_program(jnp.sin, jnp.ones(5), cache_dir=tmp_path, long=True)
    assert ran.wait(60)
    program = _programs.compile_program(_f, *args, cache_dir=tmp_path)
    assert traces("flat") == before + 3  # cos, sin and _f once, by whichever came first
    assert _programs.compile_program(_f, *args, cache_dir=tmp_path) is program
    np.testing.assert_array_equal(program(*args)["y"], jax.jit(_f)(*args)["y"])


def test_prefetch_not_yet_started_is_compiled_by_the_caller(tmp_path, traces, monkeypatch):
    monkeypatch.setattr(_programs, "_MEMO", {})
    monkeypatch.setattr(_programs, "_DEFERRED", {})
    args = (jnp.linspace(0.0, 1.0, 6), {"a": jnp.asarray(4.0)})
    before = traces("flat")
    _programs.prefetch_program(_f, *args, cache_dir=tmp_path)
    program = _programs.compile_program(_f, *args, cache_dir=tmp_path)
    assert _programs._DEFERRED == {}  # dropped: nothing left to start later
    _programs.compile_program(jnp.sin, jnp.ones(3), cache_dir=tmp_path, long=True)
    assert traces("flat") == before + 2
    np.testing.assert_array_equal(program(*args)["n"], 6 - 1)


def test_failed_compilation_is_raised_where_it_is_needed(tmp_path, monkeypatch):
    monkeypatch.setattr(_programs, "_MEMO", {})
    monkeypatch.setattr(_programs, "_DEFERRED", {})

    def broken(x):
        raise ValueError("no such program")

    _programs.prefetch_program(broken, jnp.ones(2), cache_dir=tmp_path)  # does not raise
    # A long compilation starts the prefetch, which fails in its thread, quietly.
    _programs.compile_program(jnp.sin, jnp.ones(7), cache_dir=tmp_path, long=True)
    with pytest.raises(ValueError, match="no such program"):
        _programs.compile_program(broken, jnp.ones(2), cache_dir=tmp_path)


QUICK_CHILD = textwrap.dedent("""
    import json
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    from alsjax import _programs
    try:
        jax.jit(lambda x: -x).lower(np.float32(0)).compile(_programs.QUICK_COMPILE)
        accepted = True
    except Exception:
        accepted = False
    x = np.linspace(0.0, 3.0, 11)
    quick = _programs.compile_program(jnp.sin, x, quick=True)(x)
    print(json.dumps([accepted, _programs.quick_compile_options(),
                      float(np.max(np.abs(np.asarray(quick) - np.sin(x))))]))
""")


def test_quick_programs_take_the_loop_emitters_where_the_jaxlib_has_them():
    """`quick=True` compiles with `QUICK_COMPILE` exactly where this jaxlib accepts it and
    XLA_FLAGS leaves the emitters to it. In a fresh process without the suite's XLA_FLAGS
    (conftest), as a user runs. Here XLA_FLAGS chooses them (or this jaxlib lacks them):
    no options."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    r = subprocess.run([sys.executable, "-c", QUICK_CHILD], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    accepted, options, error = json.loads(r.stdout.splitlines()[-1])
    assert options == (_programs.QUICK_COMPILE if accepted else {})
    assert error < 1e-14  # the program compiled with them computes what it should
    assert _programs.quick_compile_options() == {}
