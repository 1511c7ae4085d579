"""Uncertainty at and around the optimum: Laplace, profile likelihoods, NUTS.

- `laplace`: the Fisher information at the optimum on the stored scale: Gauss-Newton
  J^T J from the forward-mode Jacobian of the weighted residuals (priors included as
  residuals), plus 2 n_k for each estimated log noise SD (its exact Fisher information;
  it is orthogonal to the model parameters). Its inverse is the covariance. Intervals
  are symmetric on the stored scale, so asymmetric for log and logit parameters.
- `profile`: the profile likelihood of one parameter: on a grid of its values the others
  are re-optimised, all grid points as one vmapped batch warm-started at the optimum;
  the likelihood-ratio 95% interval is where 2 * (objective - best) <= 3.84.
- `sample_posterior`: NUTS (numpyro) from the same objective, flat within the bounds on
  the stored scale times any priors.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import ALSJaxError, FitWarning
from ._optimise import Progress, run_starts
from ._problem import Problem, fit_residuals, objective, physical_value, to_stored, to_z
from ._programs import compile_program
from ._result import FitResult, ProfileResult

CHI2_95 = 3.841458820694124  # 95% quantile of chi-square with 1 degree of freedom
# A profile point this much below the fit's optimum (-log posterior) means the fit
# stopped short of the optimum: far above the optimiser's stopping noise (about 1e-6),
# far below what moves a likelihood-ratio interval (CHI2_95 / 2).
PROFILE_BEATS_FIT = 0.01


def _fisher(theta, pb: Problem, J=None):
    nf = pb.n_fit
    r = jnp.zeros(0, theta.dtype)
    if J is None:
        J, r = jax.jacfwd(lambda t: (lambda r: (r, r))(fit_residuals(t, theta[nf:], pb)),
                          has_aux=True)(theta[:nf])
    F = jnp.zeros((pb.size, pb.size), theta.dtype)
    F = F.at[:nf, :nf].set(J.T @ J)
    if pb.noise_obs:
        n_k = pb.n_noise_rows[jnp.asarray(pb.noise_obs)]
        idx = jnp.arange(nf, pb.size)
        F = F.at[idx, idx].set(2.0 * n_k)
    return F, r


def fisher_information(theta, pb: Problem, jacobian=None
                       ) -> tuple[np.ndarray, np.ndarray | None, float]:
    """The Fisher information at `theta` (stored scale), the weighted residuals there
    (None when `jacobian` is given: its caller has them), and the seconds spent
    compiling. `jacobian`: the residuals' Jacobian at `theta` with respect to the stored
    values (Levenberg-Marquardt returns it); computed when None."""
    theta = jnp.asarray(theta)
    # The Fisher information ignores the optimiser's settings: drop them from the static
    # fields so fits with L-BFGS and with Adam share one compilation.
    pb = dataclasses.replace(pb, optimiser="lm", max_steps=1)
    t0 = time.perf_counter()
    if jacobian is None:
        exe = compile_program(_fisher, theta, pb, quick=True)
        ctime = time.perf_counter() - t0
        F, r = exe(theta, pb)
        return np.asarray(F), np.asarray(r), ctime
    # One compiled program too (kept across runs): eagerly, its two dozen small
    # operations would each be an XLA program of their own, loaded on every run.
    jacobian = jnp.asarray(jacobian, theta.dtype)
    exe = compile_program(_fisher, theta, pb, jacobian, quick=True)
    ctime = time.perf_counter() - t0
    F, _ = exe(theta, pb, jacobian)
    return np.asarray(F), None, ctime


def laplace(theta, pb: Problem, jacobian=None) -> tuple[np.ndarray, float]:
    """Covariance of the stored-scale estimates (inverse Fisher information), and the
    seconds spent compiling. `jacobian`: the residuals' Jacobian at `theta` with respect
    to the stored values (Levenberg-Marquardt returns it); computed when None.
    Non-identified directions give inf or NaN variances."""
    F, _, ctime = fisher_information(theta, pb, jacobian)
    return covariance(F), ctime


LOADING = 1e-8  # a parameter's share of an uninformed direction beyond eigh's rounding


def covariance(F: np.ndarray) -> np.ndarray:
    """The inverse of a Fisher information, directions it does not inform (eigenvalues
    below 1e-12 of the largest) as infinite variance rather than a huge finite one.

    Only the parameters that take part in such a direction get it (variance inf, their
    covariances NaN); one orthogonal to every uninformed direction keeps its finite
    variance. (Multiplying through by 1/0 = inf gave inf or NaN to every parameter, an
    identified one included, as soon as any other was not identified.)"""
    F = np.asarray(F)
    if not np.all(np.isfinite(F)):
        return np.full(F.shape, np.nan)
    w, V = np.linalg.eigh(F)
    tiny = max(float(np.max(np.abs(w))), 1e-300) * 1e-12
    informed = w > tiny
    cov = (V[:, informed] / w[informed]) @ V[:, informed].T
    loads = np.any(np.abs(V[:, ~informed]) > LOADING, axis=1)
    cov[loads, :] = np.nan
    cov[:, loads] = np.nan
    cov[loads, loads] = np.inf
    return cov


def profile_interval(values: np.ndarray, objective: np.ndarray, estimate: float,
                     estimate_objective: float) -> tuple[float, float]:
    """95 % likelihood-ratio interval from a profile grid and the fit's own optimum.

    The optimum is a point of the profile too: on a coarse grid it may lie between two
    points that are both beyond the threshold, and the interval is then between them.
    NaN where the profile does not cross the threshold inside the grid.
    """
    x = np.append(np.asarray(values, float), estimate)
    f = np.append(np.asarray(objective, float), estimate_objective)
    order = np.argsort(x, kind="stable")
    x, f = x[order], f[order]
    d = 2.0 * (f - np.nanmin(f))
    i0 = int(np.nanargmin(d))
    return _crossing(x, d, i0, -1), _crossing(x, d, i0, +1)


def _crossing(x, d, i0, step):
    """Interpolated x where d crosses CHI2_95 walking from index i0 by `step`."""
    i = i0
    while 0 <= i + step < len(x):
        j = i + step
        if np.isfinite(d[j]) and d[j] >= CHI2_95:
            if not np.isfinite(d[i]):
                return x[j]
            t = (CHI2_95 - d[i]) / (d[j] - d[i]) if d[j] != d[i] else 0.0
            return x[i] + t * (x[j] - x[i])
        i = j
    return math.nan


def profile(result: FitResult, parameter: str, *, points: int = 11, span: float = 4.0,
            progress: Progress | None = None) -> ProfileResult:
    """Profile likelihood of `parameter` (a model parameter that `result` estimated).

    The grid spans the estimate +- `span` Laplace SEs on the stored scale (the whole
    bound range where the SE is not finite), clipped inside the bounds.
    """
    if parameter not in result.names or ":" in parameter:
        raise ALSJaxError(f"profile: {parameter!r} is not an estimated model parameter "
                          f"({', '.join(n for n in result.names if ':' not in n)})")
    if int(points) < 3:
        raise ALSJaxError(f"profile: points must be >= 3, got {points}")
    pb = result.problem
    j = result.names.index(parameter)
    lo, hi = float(pb.lower[j]), float(pb.upper[j])
    pad = 1e-3 * (hi - lo)
    se = result.stored_std_errors[parameter]
    th = result.theta[j]
    if np.isfinite(se) and se > 0:
        a, b = max(th - span * se, lo + pad), min(th + span * se, hi - pad)
    else:
        a, b = lo + pad, hi - pad
    grid = np.linspace(a, b, int(points))
    theta = np.repeat(result.theta[None, :], len(grid), axis=0)
    theta[:, j] = grid
    z0 = np.asarray(jax.vmap(lambda t: to_z(t, pb))(jnp.asarray(theta)))
    fixed = np.zeros(pb.size, bool)
    fixed[j] = True
    t0 = time.perf_counter()
    run = run_starts(z0, pb, fixed=fixed, fixed_z=z0, progress=progress,
                     stage=f"profiling {parameter}")
    run_time = time.perf_counter() - t0 - run.compile_time
    values = np.where(np.isfinite(run.objective) & (run.objective < 1e20), run.objective,
                      np.nan)
    best = float(np.nanmin(np.append(values, result.objective)))
    phys = np.array([physical_value(parameter, g) for g in grid])
    note = ""
    if best < result.objective - PROFILE_BEATS_FIT:
        at = phys[int(np.nanargmin(values))]
        note = (f"the profile of {parameter} found -log posterior {best:.6g} at {at:.4g}, "
                f"{result.objective - best:.3g} below the fit's optimum at "
                f"{result.estimates[parameter]:.4g}: the fit stopped short; run it with "
                "more starts")
        warnings.warn(note, FitWarning, stacklevel=2)
    ci_low, ci_high = profile_interval(phys, values, result.estimates[parameter],
                                       result.objective)
    return ProfileResult(
        parameter=parameter, values=phys, stored=grid, objective=values,
        converged=run.converged, best=best, ci_low=ci_low, ci_high=ci_high,
        estimate=result.estimates[parameter],
        compile_time=run.compile_time, run_time=run_time, note=note,
    )


def sample_posterior(result: FitResult, *, num_samples: int = 500, num_warmup: int = 500,
                     num_chains: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Posterior samples (physical values, keyed by name) by NUTS from the fit's
    objective: flat within the bounds on the stored scale, times the fit's priors.
    Starts at the optimum. Needs numpyro (`pip install alsjax[bayes]`)."""
    try:
        from numpyro.infer import MCMC, NUTS
    except ImportError:  # pragma: no cover - optional dependency
        raise ALSJaxError("sample_posterior needs numpyro: pip install 'alsjax[bayes]'") from None
    pb = result.problem

    def potential(z):
        # Change of variables to z: log |d stored / d z| = log(w) + log s(z) + log s(-z).
        logdet = jnp.sum(jnp.log(pb.upper - pb.lower) + jax.nn.log_sigmoid(z)
                         + jax.nn.log_sigmoid(-z))
        return objective(z, pb) - logdet

    z0 = to_z(jnp.asarray(result.theta), pb)
    mcmc = MCMC(NUTS(potential_fn=potential), num_warmup=num_warmup,
                num_samples=num_samples, num_chains=num_chains, progress_bar=False,
                chain_method="sequential")
    init = jnp.broadcast_to(z0, (num_chains, z0.shape[0])) if num_chains > 1 else z0
    # numpyro's NUTS mixes integer and float arrays (a tree's acceptance probability over
    # its proposal count): under a caller's strict dtype promotion it would fail.
    with jax.numpy_dtype_promotion("standard"):
        mcmc.run(jax.random.key(seed), init_params=init)
    zs = mcmc.get_samples()
    stored = np.asarray(jax.vmap(lambda z: to_stored(z, pb))(zs))
    return {n: np.array([physical_value(n, s) for s in stored[:, i]])
            for i, n in enumerate(result.names)}
