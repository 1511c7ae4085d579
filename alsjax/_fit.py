"""The multistart fit: `fit(data, estimate, ...)` -> `FitResult`.

Builds the problem (`_problem.py`), runs the optimiser from every start at once
(`_optimise.py`), runs the best start on from inside its bounds if it stopped at one,
refines it if it has not converged, and turns the best point into estimates with Laplace
standard errors and 95% intervals (`_uncertainty.py`).
A start whose solves fail is reported, not raised; only a fit whose every start fails
raises `ALSJaxError`.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._dataset import Data
from ._diagnostics import at_bound, heterogeneity, messages, weakest_direction
from ._errors import ALSJaxError, FitWarning
from ._noise import NoiseSpec
from ._observables import OBSERVABLE_NAMES
from ._optimise import Progress, run_starts
from ._problem import (
    DEFAULT_OPTIMISER,
    improves,
    inside_bounds,
    make_problem,
    physical_value,
    sobol_starts,
    to_stored,
    transform_of,
    unpack,
)
from ._programs import compile_program, to_device
from ._progress import resolve_progress
from ._result import Diagnostics, FitResult
from ._uncertainty import covariance, fisher_information

FLOAT32_WARNING = ("float64 is off (jax_enable_x64 is False): the fit runs in float32, "
                   "whose rounding spoils gradients and standard errors; call "
                   "jax.config.update('jax_enable_x64', True) first")


def _diagnose(theta, F, residuals, pb, names) -> Diagnostics:
    """The diagnostics of `_diagnostics.py` at the optimum; `residuals`: the weighted
    residual vector there (measurement slots first, subject-major)."""
    transforms = tuple(transform_of(n).name for n in names)
    at = at_bound(theta, pb.lower, pb.upper, names)
    eigenvalue, direction = weakest_direction(F, names)
    het = None
    data = pb.data
    if data.n_subjects > 1 and residuals is not None and np.all(np.isfinite(residuals)):
        S, T = np.asarray(data.times).shape
        use = (np.asarray(data.mask) & ~np.asarray(data.censored)).ravel()
        subject = np.repeat(np.arange(S), T)[use]
        obs = np.asarray(data.obs).ravel()[use]
        het = heterogeneity(np.asarray(residuals)[:S * T][use],
                            np.stack([subject, obs], axis=1), pb.n_model)
    notes = messages(at, eigenvalue, direction, transforms, het)
    return Diagnostics(
        at_bound={n: bool(side) for n, side in at.items()}, bound_side=at,
        min_eigenvalue=eigenvalue, weakest_direction=direction,
        heterogeneity=None if het is None else dict(statistic=het[0], df=het[1],
                                                    p_value=het[2]),
        warnings=notes)


def _at_optimum(z, pb):
    """The stored values at the optimum `z`, and `unpack`'s estimated model parameters
    (name -> per-subject values), noise SDs and shifts there: one compiled program (kept
    across runs) instead of a dozen eager operations, each an XLA program of its own.
    Plain arrays out, no `Params`: an exported program's output tree is pickled."""
    theta = to_stored(z, pb)
    params, sd, shift = unpack(theta, pb)
    return theta, {n: getattr(params, n) for n in pb.names}, sd, shift


def _noise_in_data(data: Data, models: tuple[str, ...]) -> dict[str, str]:
    """Noise model of each observable with measurement rows (order of OBSERVABLE_NAMES)."""
    present = set(np.asarray(data.obs)[np.asarray(data.mask)].tolist())
    return {k: m for i, (k, m) in enumerate(zip(OBSERVABLE_NAMES, models, strict=True))
            if i in present}


def fit(
    data: Data,
    estimate: Sequence[str],
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    priors: Mapping[str, tuple[float, float]] | None = None,
    noise: NoiseSpec = None,
    optimiser: str = DEFAULT_OPTIMISER,
    n_starts: int = 8,
    seed: int = 0,
    max_steps: int = 200,
    progress: Progress | bool | None = None,
    fit_shifts: bool | Sequence[str | Sequence[str]] = False,
    estimate_noise: bool = True,
    starts: np.ndarray | None = None,
    method: str = "auto",
    rtol: float | None = None,
    atol: float | None = None,
) -> FitResult:
    """Fit `estimate` (parameter names) to `data` by multistart maximum likelihood.

    **Arguments:**
    - `data`: from `make_data`.
    - `estimate`: parameter names (`alsjax.PARAMETER_NAMES`); the rest stay at each
      subject's preset.
    - `bounds`: name -> (lower, upper) physical; default preset x/÷ 10.
    - `priors`: name -> (median, geometric SD): a log-normal prior (MAP fit).
    - `noise`: each observable's noise model (see `log_likelihood`): None for the
      defaults (NfL log-normal, the rest Gaussian), "gaussian" or "lognormal" for all, or
      a mapping observable -> model. Noise SDs (CVs for log-normal observables) of
      observables whose rows give no `sigma` are estimated unless `estimate_noise=False`.
    - `optimiser`: "lm" (Levenberg-Marquardt), "lbfgs" or "adam" (optax).
    - `n_starts`, `seed`: scrambled-Sobol starts within the bounds (or `starts`, z scale).
    - `max_steps`: per start.
    - `progress`: a callable `progress(stage, done, total)` told the work done between
      compiled chunks; True for a progress bar on the terminal; None for silence.
    - `fit_shifts`: also estimate each subject's time shift (days); or a sequence of
      subject names, to estimate theirs and hold the others at their alignment; an item
      that is a sequence of names gives those subjects one shared shift (a trial's arms).
    - `method`: how the cohort is solved ("auto", "vmap" or "lanes", `solve_cohort`).
    - `rtol`, `atol`: the ODE solver's tolerances (None: `simulate`'s, 1e-6 and 1e-9).
      Derivatives with respect to a drug's efficacy carry about 1.5 % at the defaults
      (docs/model.md, *Accuracy*), and so do its standard errors: 1e-8 takes that to
      0.2-0.5 %, at about twice the solver steps.

    Starts whose solves fail are kept and flagged (`start_failed`); raises
    `ALSJaxError` only if every start fails. Standard errors and 95% intervals are
    Laplace (Fisher information at the optimum, see `alsjax.laplace`). The result's
    `diagnostics` flag estimates at a bound, a near-singular Fisher information and, for
    several subjects, heterogeneity; each flag is also a `FitWarning`, as is float32.
    """
    t_start = time.perf_counter()
    if not jax.config.jax_enable_x64:
        warnings.warn(FLOAT32_WARNING, FitWarning, stacklevel=2)
    pb, names, nominal = make_problem(
        data, estimate, bounds=bounds, priors=priors, noise=noise, optimiser=optimiser,
        max_steps=max_steps, fit_shifts=fit_shifts, estimate_noise=estimate_noise,
        method=method, rtol=rtol, atol=atol)
    if starts is None:
        if int(n_starts) < 1:
            raise ALSJaxError(f"starts must be >= 1, got {n_starts}")
        z0 = sobol_starts(int(n_starts), pb, seed)
    else:
        z0 = np.asarray(starts, dtype=float)
    z0 = jnp.asarray(z0, jnp.result_type(float))
    with resolve_progress(progress) as report:
        run = run_starts(z0, pb, progress=report)
        values, steps = np.array(run.objective), run.steps.copy()
        failed = ~np.isfinite(values) | (values >= 1e20)
        if failed.all():
            raise ALSJaxError(f"fit: all {len(values)} starts failed (the model could not "
                              "be solved); narrow the bounds or check the data")
        best = int(np.argmin(np.where(failed, np.inf, values)))
        z_best, v_best = run.z[best], float(values[best])
        c_best, jac = bool(run.converged[best]), run.jacobian[best]
        res = run.residuals[best]
        converged = run.converged & ~failed
        compile_time = run.compile_time
        timings = {"fit": dict(compile_s=run.compile_time, run_s=run.run_time)}

        def continue_best(z_from, phase: str, stage: str, lr_scale: float, strictly: bool):
            """Run the best start on from `z_from` (the same compiled program, every row
            that point) and keep where it ends if its objective is lower (`strictly`: by
            more than rounding), or no higher."""
            nonlocal z_best, v_best, c_best, jac, res, compile_time
            again = run_starts(np.repeat(np.asarray(z_from)[None], z0.shape[0], axis=0), pb,
                               lr_scale=lr_scale, progress=report, stage=stage)
            compile_time += again.compile_time
            timings[phase] = dict(compile_s=again.compile_time, run_s=again.run_time)
            v = float(again.objective[0])
            if improves(v, v_best, strictly):
                z_best, v_best = again.z[0], v
                c_best, jac = bool(again.converged[0]), again.jacobian[0]
                res = again.residuals[0]
                steps[best] += again.steps[0]
                values[best], converged[best] = v, c_best

        inside, at_bound = inside_bounds(np.asarray(z_best))
        if at_bound:
            continue_best(inside, "bound retry", "leaving a bound", 1.0, strictly=True)
        if not c_best:
            # Refine an unconverged best start: it continues (gentler steps for Adam).
            continue_best(z_best, "refine", "refining", 0.1, strictly=False)
    t_lap = time.perf_counter()
    z_best = to_device(z_best)
    at_optimum = compile_program(_at_optimum, z_best, pb, quick=True)
    opt_ctime = time.perf_counter() - t_lap
    theta, estimated, sd, shift = at_optimum(z_best, pb)
    params = dataclasses.replace(pb.data.base, **estimated)
    theta = np.asarray(theta)
    have_jac = bool(np.all(np.isfinite(jac)))
    F, res_lap, lap_ctime = fisher_information(theta, pb, jac if have_jac else None)
    lap_ctime += opt_ctime
    res = res if have_jac else res_lap
    cov = covariance(F)
    timings["laplace"] = dict(compile_s=lap_ctime,
                              run_s=time.perf_counter() - t_lap - lap_ctime)
    diagnostics = _diagnose(theta, F, res, pb, names)
    for note in diagnostics.warnings:
        warnings.warn(note, FitWarning, stacklevel=2)
    se = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
    est, ses, lo, hi, stored, sse, nom, lb, ub = {}, {}, {}, {}, {}, {}, {}, {}, {}
    lower, upper, nominal = np.asarray(pb.lower), np.asarray(pb.upper), np.asarray(nominal)
    for i, n in enumerate(names):
        transform = transform_of(n)
        est[n] = physical_value(n, theta[i])
        stored[n], sse[n] = float(theta[i]), float(se[i])
        finite = bool(np.isfinite(se[i]))
        # Within the bounds: the model is not defined past them (a rate below 0).
        low, high = max(theta[i] - 1.96 * se[i], lower[i]), min(theta[i] + 1.96 * se[i], upper[i])
        lo[n] = physical_value(n, low) if finite else math.nan
        hi[n] = physical_value(n, high) if finite else math.nan
        ses[n] = float(transform.physical_se(est[n], float(se[i])))
        nom[n] = physical_value(n, float(nominal[i]))
        lb[n], ub[n] = physical_value(n, lower[i]), physical_value(n, upper[i])
    return FitResult(
        names=names, transforms=tuple(transform_of(n).name for n in names), estimates=est,
        std_errors=ses, ci_low=lo, ci_high=hi, stored=stored, stored_std_errors=sse,
        nominal=nom, lower=lb, upper=ub, objective=v_best,
        start_objectives=np.where(failed, np.inf, values),
        start_converged=converged, start_failed=failed, start_steps=steps,
        converged=c_best, params=params, noise_sd=np.asarray(sd),
        time_shift=None if shift is None else np.asarray(shift), covariance=cov,
        n_iter=int(steps[best]), wall_time=time.perf_counter() - t_start,
        compile_time=compile_time + lap_ctime, optimiser=optimiser,
        noise=_noise_in_data(data, pb.noise),
        seed=int(seed), n_starts=int(z0.shape[0]), theta=theta, data=data, problem=pb,
        diagnostics=diagnostics,
        timings={k: {m: round(float(x), 4) for m, x in v.items()} for k, v in timings.items()},
    )
