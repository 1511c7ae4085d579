"""One place decides the numerics of the test suite: float64 everywhere, and JAX's strict
dtype promotion and rank checks (as diffrax's own suite runs), so a silent float32 or a
broadcast by accident fails a test instead of passing unnoticed; and XLA's CPU loop
emitters, which compile this model's programs faster (`_use_loop_emitters`)."""

import collections
import os
import subprocess
import sys


def _use_loop_emitters() -> None:
    """Compile the suite's programs with XLA's older CPU loop emitters.

    Most of the suite's time is XLA compiling (57 % of its worker seconds on 2 cores,
    2026-12-07), and this model's programs are hundreds of small loop fusions, which the
    default fusion emitters compile one kernel at a time: with
    `--xla_cpu_use_fusion_emitters=false` the suite compiled in 29 % less time and ran as
    fast (`benchmarks/RESULTS.md`, `benchmarks/bench_emitters.py`). XLA reads `XLA_FLAGS`
    once, when JAX starts its backend, so this runs before anything computes; the test
    workers and the processes tests start inherit it. Only where this jaxlib knows the
    flag (an unknown one aborts the process), checked once in a throwaway process."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_use_fusion_emitters" in flags:
        return  # chosen already: by the user, or by the run that started this worker
    env = dict(os.environ, XLA_FLAGS=f"{flags} --xla_cpu_use_fusion_emitters=false".strip())
    probe = subprocess.run([sys.executable, "-c", "import jax; jax.devices()"], env=env,
                           capture_output=True)
    if probe.returncode == 0:
        os.environ["XLA_FLAGS"] = env["XLA_FLAGS"]


_use_loop_emitters()

import jax  # noqa: E402
import jax.monitoring  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

_TRACES: collections.Counter = collections.Counter()


def _count(event: str, duration: float, **kwargs) -> None:
    if event == "/jax/core/compile/jaxpr_trace_duration":
        _TRACES[kwargs.get("fun_name", "")] += 1


jax.monitoring.register_event_duration_secs_listener(_count)


# The files that take longest (worker seconds on 2 cores, measured 2026-12-06 from each
# worker's timeline), longest first. pytest-xdist hands files to the two workers in
# collection order, so the longest go out first and the short ones fill in at the end
# (longest-processing-time scheduling): both workers then finish close together instead
# of one waiting for the other's last long file. `--no-loadscope-reorder`
# (pyproject.toml) keeps xdist from reordering by test count. Re-measure when a file's
# time changes by a minute.
_LONGEST_FIRST = ("test_likelihood.py", "test_batch.py", "test_population.py",
                  "test_fit.py", "test_published_fits.py", "test_persubject.py",
                  "test_simulate.py", "test_cli_simulate.py", "test_cli_fit.py",
                  "test_diagnostics.py", "test_priors.py", "test_model.py", "test_synth.py",
                  "test_compile_cache.py", "test_package.py", "test_outputs.py",
                  "test_bad_input.py", "test_distributed.py", "test_batch_tableau.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return _LONGEST_FIRST.index(name) if name in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: tests keep their order within a file


@pytest.fixture
def traces():
    """How often each jitted function (by name) has been traced since the test began:
    JAX's own compile events, so the library keeps no counters of its own."""
    start = collections.Counter(_TRACES)

    def count(name: str) -> int:
        return _TRACES[name] - start[name]

    return count


@pytest.fixture
def key():
    return jax.random.key(0)
