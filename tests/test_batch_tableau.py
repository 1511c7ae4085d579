"""simulate_batch's hand-copied pieces of diffrax still match diffrax.

`alsjax._batch` steps each lane with Tsit5's tableau, diffrax's initial-step rule and the
PIDController's default constants, written out. A diffrax upgrade that changes any of
them must fail here rather than drift silently.
"""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pytest

import alsjax
from alsjax import _batch
from alsjax._simulate import augmented_field
from alsjax._therapy import no_therapy

RTOL, ATOL = 1e-6, 1e-9
TERM = diffrax.ODETerm(lambda t, y, args: augmented_field(t, y, args))


@pytest.fixture(scope="module")
def problem():
    """(y0, args, f) of the default preset, as `_integrate` builds them for one lane."""
    p = alsjax.default_params()
    args = (alsjax.physical(p), no_therapy())
    y0 = jnp.concatenate([alsjax.initial_state(p), jnp.zeros(3)]).astype(jnp.float64)
    return y0, args, lambda t, y: augmented_field(t, y, args)


def test_tableau_is_diffraxs_tsit5():
    tab = diffrax.Tsit5.tableau
    assert _batch._TABLEAU is tab
    # The shapes and the first-same-as-last structure `_tsit5` relies on.
    assert len(tab.a_lower) == 6 and len(tab.c) == 6
    assert [len(row) for row in tab.a_lower] == [1, 2, 3, 4, 5, 6]
    assert len(tab.b_sol) == 7 and len(tab.b_error) == 7
    assert tab.fsal and float(tab.c[-1]) == 1.0 and float(tab.b_sol[-1]) == 0.0
    np.testing.assert_array_equal(np.asarray(tab.a_lower[-1]), np.asarray(tab.b_sol[:-1]))
    # Published Tsit5 coefficients (Tsitouras 2011), a few of each array.
    np.testing.assert_allclose(np.asarray(tab.c[:3]), [0.161, 0.327, 0.9], rtol=0, atol=1e-15)
    np.testing.assert_allclose(float(tab.a_lower[1][1]), 0.3354806554923570, rtol=1e-14)
    np.testing.assert_allclose(float(tab.b_sol[0]), 0.09646076681806523, rtol=1e-14)
    np.testing.assert_allclose(float(tab.b_error[-1]), -1.0 / 66, rtol=1e-14)


def test_controller_constants_are_diffraxs_defaults():
    pid = diffrax.PIDController(rtol=RTOL, atol=ATOL)
    assert (_batch._SAFETY, _batch._FACTORMIN, _batch._FACTORMAX) == (
        pid.safety, pid.factormin, pid.factormax)
    # An I controller (the default), RMS norm, the error order diffeqsolve passes.
    assert (pid.pcoeff, pid.icoeff, pid.dcoeff) == (0, 1, 0)
    assert pid.norm is optx.rms_norm and pid.error_order is None
    solver = diffrax.Tsit5()
    assert solver.order(TERM) == 5
    assert _batch._ERROR_ORDER == solver.error_order(TERM)


def test_one_step_matches_diffrax(problem):
    """`_tsit5` and the controller as written in `_integrate`'s lane step against
    `Tsit5.step` and `PIDController.adapt_step_size`, on one step of the cascade."""
    y0, args, f = problem
    solver, pid = diffrax.Tsit5(), diffrax.PIDController(rtol=RTOL, atol=ATOL)
    t0, h = 3.0, 40.0
    y = y0 + 0.01  # off the initial state: every component moves
    k1 = f(t0, y)
    y1, y_err, k7 = _batch._tsit5(f, t0, y, k1, h, t0 + h)
    d1, d_err, _, (_, dk7), _ = solver.step(TERM, t0, t0 + h, y, args,
                                            (jnp.asarray(False), k1), False)
    np.testing.assert_allclose(y1, d1, rtol=1e-13, atol=1e-15)
    # The error estimate is a difference of nearly equal sums: compare on its own scale.
    err_scale = float(jnp.max(jnp.abs(d_err)))
    np.testing.assert_allclose(y_err, d_err, rtol=1e-10, atol=1e-10 * err_scale)
    # The last stage is f(t1, y1): y1's last-digit differences pass through f.
    np.testing.assert_allclose(k7, dk7, rtol=1e-11, atol=1e-15)
    # The step-size factor, for an accepted and a rejected error (scaled as in the lane).
    scale = ATOL + RTOL * jnp.maximum(jnp.abs(y), jnp.abs(y1))
    for scale_err in (0.05, 30.0):
        e = y_err * scale_err / _batch._rms(y_err / scale)  # scaled RMS error = scale_err
        err = _batch._rms(e / scale)
        keep = err < 1
        factor = jnp.clip(_batch._SAFETY * (1 / err) ** (1 / _batch._ERROR_ORDER),
                          jnp.where(keep, 1.0, _batch._FACTORMIN),
                          jnp.where(keep, _batch._FACTORMAX, _batch._SAFETY))
        d_keep, n0, n1, _, _, _ = pid.adapt_step_size(
            t0, t0 + h, y, y1, args, e, solver.error_order(TERM),
            (jnp.asarray(1.0), jnp.asarray(1.0), False))
        assert bool(keep) == bool(d_keep) == (scale_err < 1)
        np.testing.assert_allclose(float(factor * h), float(n1 - n0), rtol=1e-12)


def test_first_step_matches_diffrax(problem):
    """`_first_step` is diffrax's rule (Hairer, Norsett and Wanner, II.4), as
    `PIDController.init` applies it to a bare `ODETerm`."""
    y0, args, f = problem
    h = float(_batch._first_step(f, y0, f(0.0, y0), RTOL, ATOL))
    solver, pid = diffrax.Tsit5(), diffrax.PIDController(rtol=RTOL, atol=ATOL)
    t1, _ = pid.init(TERM, 0.0, 3650.0, y0, None, args, solver.func, solver.error_order(TERM))
    np.testing.assert_allclose(h, float(t1), rtol=1e-12)


def test_diffeqsolve_first_step(problem):
    """What `diffeqsolve(dt0=None)` (so `simulate`) takes as its first step.

    In diffrax 0.7.2 it is not the rule above: `diffeqsolve` wraps the term in a
    `WrapTerm`, and the initial-step rule returns a fixed 0.01 for any term that is not
    an `ODETerm`. So `simulate` starts with a 0.01-day step and `simulate_batch` with
    `_first_step`'s (about 0.0015 days here); they agree to the tolerance, not step for
    step. If this fails, diffrax changed its first step: compare it with `_first_step`.
    """
    y0, args, f = problem
    h = float(_batch._first_step(f, y0, f(0.0, y0), RTOL, ATOL))
    pid = diffrax.PIDController(rtol=RTOL, atol=ATOL)
    sol = jax.jit(lambda y0: diffrax.diffeqsolve(
        TERM, diffrax.Tsit5(), 0.0, 3650.0, None, y0, args, stepsize_controller=pid,
        saveat=diffrax.SaveAt(steps=True), max_steps=4, throw=False))(y0)
    first = float(sol.ts[0])  # the first accepted step (none is rejected here)
    assert int(sol.stats["num_accepted_steps"]) == 4
    assert first == 0.01, f"diffeqsolve's first step is {first!r} (_first_step: {h!r})"
    assert abs(first - h) > 1e-3 * h
