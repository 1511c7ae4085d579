"""scipy in the same run: LSODA solves, finite-difference gradients, the Radau reference."""

from __future__ import annotations

import time

import numpy as np
from scipy.integrate import solve_ivp

import alsjax

from ._problem import ATOL, RTOL, VARY, loss_of_states, numpy_field, output_times

N_STATES = len(alsjax.STATE_NAMES)  # the model's states; the field also carries 3 event clocks


def solve(theta_row, method="LSODA", rtol=RTOL, atol=ATOL, use_jac=False):
    """States at the output times for one parameter set, (T, N_STATES); NaN on failure."""
    f, jac, y0 = numpy_field(theta_row)
    ts = np.asarray(output_times())
    kwargs = {"jac": jac} if use_jac else {}
    sol = solve_ivp(f, (0.0, ts[-1]), y0, method=method, t_eval=ts, rtol=rtol, atol=atol,
                    **kwargs)
    if not sol.success:
        return np.full((len(ts), N_STATES), np.nan)
    return sol.y.T[:, :N_STATES]


def reference(thetas):
    """float64 Radau at rtol 1e-10, atol 1e-12 (analytic Jacobian): (S, T, N_STATES)."""
    return np.stack([solve(th, "Radau", 1e-10, 1e-12, use_jac=True) for th in thetas])


def fd_gradient(theta_row, h=1e-6):
    """Forward differences of the loss in the log-parameters: len(VARY) + 1 LSODA solves."""
    loss0 = float(loss_of_states(solve(theta_row)))
    grad = np.empty(len(VARY))
    for j in range(len(VARY)):
        moved = np.array(theta_row, dtype=float)
        moved[j] += h
        grad[j] = (float(loss_of_states(solve(moved))) - loss0) / h
    return grad


def reference_gradient(theta_row, h=1e-4):
    """Central differences of Radau solves at rtol 1e-11 (analytic Jacobian): the accuracy
    reference for the gradients. `fd_gradient` at the benchmark's tolerance is the timed
    baseline, but its error (the solver's, divided by h) reaches several per cent."""
    def loss(theta):
        return float(loss_of_states(solve(theta, "Radau", 1e-11, 1e-13, use_jac=True)))

    theta = np.asarray(theta_row, dtype=float)
    return np.array([(loss(theta + e) - loss(theta - e)) / (2 * h)
                     for e in h * np.eye(len(VARY))])


def per_trajectory(fn, thetas):
    """Median seconds per call of fn over the sample (after one warm-up call)."""
    fn(thetas[0])
    times = []
    for th in thetas:
        t0 = time.perf_counter()
        fn(th)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.mean(times))
