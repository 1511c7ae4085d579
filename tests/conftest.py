"""One place decides the numerics of the test suite: float64 everywhere, and JAX's strict
dtype promotion and rank checks (as diffrax's own suite runs), so a silent float32 or a
broadcast by accident fails a test instead of passing unnoticed."""

import collections

import jax
import jax.monitoring
import pytest

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
