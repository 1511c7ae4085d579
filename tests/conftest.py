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
