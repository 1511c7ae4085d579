"""The fit's starts: `_sobol.sobol` gives scipy's scrambled Sobol' points bit for bit
(the reference is scipy.stats.qmc itself), so the shipped recipes start where they did."""

import warnings

import numpy as np
import pytest
from scipy.stats import qmc

from alsjax._sobol import sobol


@pytest.mark.parametrize("d", [1, 2, 3, 4, 7, 16, 40])
@pytest.mark.parametrize("seed", [0, 1, 123])
def test_same_points_as_scipy(d, seed):
    for n in (1, 2, 3, 4, 5, 8, 13, 100):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # n not a power of 2
            reference = qmc.Sobol(d, scramble=True, seed=seed).random(n)
        np.testing.assert_array_equal(sobol(n, d, seed), reference)  # tolerance: 0


def test_points_in_the_unit_cube_and_balanced():
    u = sobol(64, 5, seed=0)
    assert u.shape == (64, 5) and u.dtype == np.float64
    assert np.all((u >= 0) & (u < 1))
    # A (t, m, s)-net property: each half of every axis holds exactly half the points.
    assert np.all((u < 0.5).sum(axis=0) == 32)
