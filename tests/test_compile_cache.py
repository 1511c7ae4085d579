"""A second `alsjax fit` of the same problem, in a new process, compiles nothing.

Each run is a child process (the persistent cache and `alsjax-programs` live in a
`tmp_path` folder given by `ALSJAX_CACHE_DIR`) that counts JAX's own monitoring events:
backend compilations, persistent-cache hits and misses, and traces of alsjax's programs.
A backend compilation that is a cache hit is a retrieval, not a compilation.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import atexit, collections, json, sys
    import jax, jax.monitoring

    counts = collections.Counter()
    compiles = []

    def on_duration(event, duration, **kw):
        counts[event] += 1
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append([kw.get("fun_name", ""), duration])
        if event == "/jax/core/compile/jaxpr_trace_duration":
            counts["trace:" + kw.get("fun_name", "")] += 1

    def on_event(event, **kw):
        counts[event] += 1

    def report():
        hits = counts["/jax/compilation_cache/cache_hits"]
        print("COUNTS " + json.dumps(dict(counts=counts, compiles=compiles, hits=hits)))

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    jax.monitoring.register_event_listener(on_event)
    atexit.register(report)  # `main` ends the process; it runs the exit handlers first
    from alsjax.cli import main

    sys.argv = ["alsjax", "fit", "--quiet", "--out", sys.argv[1]]
    main()
""")


def _fit(cache: Path, out: Path) -> dict:
    # As a user runs it: without the suite's XLA_FLAGS (conftest), so the fit's quick
    # programs compile with their own options (`_programs.quick_compile_options`).
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(ALSJAX_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", CHILD, str(out)], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(x for x in r.stdout.splitlines() if x.startswith("COUNTS "))
    return json.loads(line[len("COUNTS "):])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cache")
    first = _fit(tmp / "jax", tmp / "out1")
    second = _fit(tmp / "jax", tmp / "out2")
    return first, second, tmp


def test_second_fit_retraces_and_recompiles_no_program(runs):
    first, second, tmp = runs
    # The first run starts from an empty cache: it compiles (and stores) its programs;
    # the few hits it has are identical small operations compiled twice in one run.
    assert first["counts"].get("/jax/compilation_cache/cache_misses", 0) > 0
    assert any(p.suffix == ".bin" for p in (tmp / "jax" / "alsjax-programs").iterdir())
    counts = second["counts"]
    # The optimiser's program came from disk: not traced, and XLA's work was a cache hit.
    assert counts.get("trace:_advance_starts", 0) == 0
    assert counts.get("trace:flat", 0) == 0
    assert counts.get("/jax/compilation_cache/cache_misses", 0) == 0
    assert second["hits"] >= 2
    # Whatever is not a hit is one of the tiny eager operations (jnp calls outside jit)
    # that the CLI's cache policy leaves out (compile time under its threshold).
    big = [c for c in second["compiles"] if c[1] > 0.5]
    assert len(big) <= second["hits"], big
    # Same results from the programs kept on disk.
    for name in ("parameters.csv", "predictions.csv"):
        assert (tmp / "out1" / name).read_text() == (tmp / "out2" / name).read_text()


def test_second_fit_compiles_nothing(runs):
    _, second, _ = runs
    assert len(second["compiles"]) - second["hits"] == 0, second["compiles"]
