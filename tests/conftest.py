"""One place decides the numerics of the test suite: float64 everywhere."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def key():
    return jax.random.key(0)
