"""Per-subject fits: every subject's own multistart fit, all subjects in one batch.

`fit_per_subject(data, estimate)` splits the cohort into S one-subject datasets stacked
on a new leading axis (the same padded slots, so one compiled program serves them all),
builds one `Problem` batched over that axis (`subject_problems`), and runs every start of
every subject side by side (`run_starts(..., problem_axis=0)`), optionally split over
devices (`mesh`). Genotypes and therapy arms mix freely: each subject keeps its own
preset and therapy. Noise SDs are each subject's own (closed form in Levenberg-Marquardt)
unless fixed. Standard errors are Laplace, per subject, from the LM Jacobian.

A subject whose every start fails gets a row of NaN and is counted; the cohort goes on.
`write_per_subject` writes subjects.csv, summary.json (the spread across subjects) and
subjects.png; `run_per_subject` is the recipe-to-files path of `alsjax fit --per-subject`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._data import read_measurements
from ._dataset import Data, make_data
from ._diagnostics import AT_BOUND_FRACTION
from ._errors import ALSJaxError
from ._io import (
    OUTPUT_MARKER,
    check_output_folder,
    json_float,
    peak_memory,
    versions,
    write_folder,
)
from ._noise import NoiseSpec
from ._observables import OBSERVABLE_NAMES
from ._optimise import Progress, device_mesh, run_starts
from ._presets import LATEST_PRESET
from ._problem import (
    BOUND_FACTOR,
    DEFAULT_OPTIMISER,
    Problem,
    improves,
    inside_bounds,
    make_problem,
    physical_value,
    prior_on_stored,
    sobol_starts,
    transform_of,
)
from ._progress import resolve_progress
from ._recipe import Recipe, fit_priors, load_recipe, without_population
from ._simulate import DEFAULT_ATOL, DEFAULT_RTOL
from ._uncertainty import laplace

SUBJECT_COLUMNS: tuple[str, ...] = ("subject", "parameter", "estimate", "std_error",
                                    "ci_low", "ci_high")
"""The first columns of subjects.csv; `converged`, `at_bound`, `starts_ok` and
`objective` follow."""


@dataclasses.dataclass(frozen=True)
class PerSubjectResult:
    """What `fit_per_subject` found: arrays `(S, P)` over subjects x estimated quantities
    (`names`: parameters, then `sigma:<observable>`), physical values; NaN for a failed
    subject (`failed`), and for the noise SD of an observable a subject has no rows of."""

    subjects: tuple[str, ...]
    names: tuple[str, ...]
    estimates: np.ndarray
    std_errors: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    stored: np.ndarray
    stored_std_errors: np.ndarray
    at_bound: np.ndarray  # (S, P): within 1 % of the bound range of a bound
    objective: np.ndarray  # (S,)
    converged: np.ndarray  # (S,)
    failed: np.ndarray  # (S,): every start failed
    starts_ok: np.ndarray  # (S,)
    n_starts: int
    seed: int
    optimiser: str
    noise: dict[str, str]
    fixed_noise: dict[str, float]
    devices: int
    wall_time: float
    compile_time: float
    chunk_subjects: int | None = None  # subjects fitted at a time (None: all)
    processes: int = 1  # processes sharing the devices (`alsjax fit --distributed`)
    preset_version: str = LATEST_PRESET  # of the presets behind the parameters not fitted
    tolerances: tuple[float, float] = (DEFAULT_RTOL, DEFAULT_ATOL)  # the solver's (rtol, atol)
    align: str = "cascade"  # day 0 of the data's times: "onset" or the cascade's start
    at_lower: np.ndarray | None = None  # (S, P): the lower bound's share (None: not known)
    priors: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    # name -> one (median, GSD) per subject (say, each subject's genotype's plausible range)
    subject_priors: dict[str, list[tuple[float, float]]] = dataclasses.field(
        default_factory=dict)

    @property
    def n_failed(self) -> int:
        return int(self.failed.sum())

    def bound_notes(self) -> list[str]:
        """One line per estimated quantity that sits at a bound of its range in some
        subjects: how many, at which bound. A pile-up there usually means that the bounds,
        the preset version or the data's alignment is wrong, not the subjects."""
        notes = []
        for j, n in enumerate(self.names):
            hit = self.at_bound[:, j]
            if not hit.any():
                continue
            sides = ""
            if self.at_lower is not None:
                lower = int((hit & self.at_lower[:, j]).sum())
                sides = ", ".join(f"{k} at the {side}" for k, side in
                                  ((lower, "lower"), (int(hit.sum()) - lower, "upper")) if k)
                sides += "; "
            notes.append(f"{n} is at a bound in {int(hit.sum())} of {len(self.subjects)} "
                         f"subjects ({sides}subjects.csv, column at_bound): check its "
                         "bounds, the preset version and the alignment")
        return notes

    def table(self) -> pd.DataFrame:
        """One row per subject and estimated quantity (the rows of subjects.csv)."""
        S, P = self.estimates.shape
        return pd.DataFrame({
            "subject": np.repeat(np.asarray(self.subjects, dtype=object), P),
            "parameter": np.tile(np.asarray(self.names, dtype=object), S),
            "estimate": self.estimates.ravel(), "std_error": self.std_errors.ravel(),
            "ci_low": self.ci_low.ravel(), "ci_high": self.ci_high.ravel(),
            "converged": np.repeat(self.converged, P), "at_bound": self.at_bound.ravel(),
            "starts_ok": np.repeat(self.starts_ok, P),
            "objective": np.repeat(self.objective, P),
        })

    def spread(self) -> dict[str, dict[str, float | int | None]]:
        """Per quantity, across subjects with a finite estimate: median, 10th and 90th
        percentiles, and the geometric SD exp(SD(log estimate)) (None unless all > 0)."""
        out = {}
        for j, n in enumerate(self.names):
            v = self.estimates[:, j]
            v = v[np.isfinite(v)]
            if v.size == 0:
                out[n] = dict(n=0, median=None, p10=None, p90=None, geometric_sd=None)
                continue
            gsd = math.exp(float(np.std(np.log(v), ddof=1))) if v.size > 1 and np.all(
                v > 0) else None
            out[n] = dict(n=int(v.size), median=json_float(np.median(v)),
                          p10=json_float(np.percentile(v, 10)),
                          p90=json_float(np.percentile(v, 90)),
                          geometric_sd=None if gsd is None else json_float(gsd))
        return out


def split_subjects(data: Data) -> Data:
    """S one-subject datasets stacked on a new leading axis: every array `(S, 1, ...)`,
    the padded slots of the cohort kept, so one program serves every subject."""
    stacked = jax.tree.map(lambda x: jnp.asarray(x)[:, None], data)
    return dataclasses.replace(stacked, subjects=("0",))


def split_priors(priors: Mapping[str, Any] | None, n_subjects: int
                 ) -> tuple[dict[str, tuple[float, float]],
                            dict[str, list[tuple[float, float]]]]:
    """A per-subject fit's priors as (those shared by every subject: name -> (median, GSD),
    those given subject by subject: name -> one (median, GSD) per subject)."""
    shared, own = {}, {}
    for n, value in (priors or {}).items():
        pairs = np.asarray(value, float)
        if pairs.shape == (2,):
            shared[n] = (float(pairs[0]), float(pairs[1]))
        elif pairs.shape == (n_subjects, 2):
            own[n] = [(float(m), float(g)) for m, g in pairs]
        else:
            raise ALSJaxError(f"prior of {n}: expected (median, GSD) or one such pair per "
                              f"subject ({n_subjects}), got an array of shape {pairs.shape}")
    return shared, own


def subject_problems(
    data: Data,
    estimate: Sequence[str],
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    priors: Mapping[str, Any] | None = None,
    noise: NoiseSpec = None,
    noise_sd: Mapping[str, float] | None = None,
    optimiser: str = DEFAULT_OPTIMISER,
    max_steps: int = 200,
    method: str = "auto",
    rtol: float | None = None,
    atol: float | None = None,
) -> tuple[Problem, tuple[str, ...]]:
    """One `Problem` per subject, stacked on a leading axis (arrays `(S, ...)`, static
    fields shared), and the names of the estimated quantities.

    Checks every choice as `make_problem` does. Default bounds are each subject's preset
    x/÷ 10; `noise_sd` fixes the SD (CV for a log-normal observable) of the observables
    it names; the other observables' SDs are estimated for each subject. `priors` as
    `fit_per_subject` takes them (shared, or one per subject).
    """
    noise_sd = dict(noise_sd or {})
    for k, v in noise_sd.items():
        if k not in OBSERVABLE_NAMES:
            raise ALSJaxError(f"noise SD: unknown observable {k!r}; choose from "
                              f"{', '.join(OBSERVABLE_NAMES)}")
        if not (math.isfinite(v) and v > 0):
            raise ALSJaxError(f"noise SD of {k}: must be a positive number, got {v:g}")
    S, T = data.mask.shape
    shared, own = split_priors(priors, S)
    # make_problem checks every prior's name (a per-subject one through its first pair);
    # the per-subject columns are filled in below.
    checked = shared | {n: pairs[0] for n, pairs in own.items()}
    pb, names, _ = make_problem(data, estimate, bounds=bounds, priors=checked, noise=noise,
                                optimiser=optimiser, max_steps=max_steps, method=method,
                                rtol=rtol, atol=atol)
    n_model = len(estimate)
    sd0 = np.asarray(pb.noise_sd, float).copy()
    for k, v in noise_sd.items():
        sd0[OBSERVABLE_NAMES.index(k)] = v
    keep = [i for i, k in enumerate(pb.noise_obs) if OBSERVABLE_NAMES[k] not in noise_sd]
    noise_obs = tuple(pb.noise_obs[i] for i in keep)
    cols = list(range(n_model)) + [n_model + i for i in keep]
    names = tuple(names[c] for c in cols)

    def per_subject(x):
        return np.repeat(np.asarray(x)[None, cols], S, axis=0)

    lower, upper = per_subject(pb.lower), per_subject(pb.upper)
    for j, n in enumerate(estimate):
        if n in (bounds or {}):
            continue
        transform = transform_of(n)
        presets = np.asarray(getattr(data.base, n), float)
        for value in np.unique(presets):  # each genotype's preset, x/÷ 10
            lower[presets == value, j], upper[presets == value, j] = transform.default_bounds(
                float(value), BOUND_FACTOR)
    rows = np.asarray(pb.noise_rows).reshape(S, T, -1).copy()
    for k in set(pb.noise_obs) - set(noise_obs):
        rows[:, :, k] = False
    prior_mean, prior_sd = per_subject(pb.prior_mean), per_subject(pb.prior_sd)
    has_prior = per_subject(pb.has_prior)
    for n, pairs in own.items():
        j = list(estimate).index(n)
        stored = {pair: prior_on_stored(n, *pair) for pair in set(pairs)}
        prior_mean[:, j], prior_sd[:, j] = np.asarray([stored[pair] for pair in pairs]).T
        has_prior[:, j] = True
    f = jnp.result_type(float)
    stacked = Problem(
        data=split_subjects(data), lower=jnp.asarray(lower, f), upper=jnp.asarray(upper, f),
        prior_mean=jnp.asarray(prior_mean, f), prior_sd=jnp.asarray(prior_sd, f),
        has_prior=jnp.asarray(has_prior),
        prior_on_log=jnp.asarray(per_subject(pb.prior_on_log)),
        noise_sd=jnp.asarray(np.repeat(sd0[None], S, axis=0), f),
        noise_rows=jnp.asarray(rows), n_noise_rows=jnp.asarray(rows.sum(1), f),
        names=pb.names, noise_obs=noise_obs, shift_groups=(), noise=pb.noise,
        optimiser=pb.optimiser, max_steps=pb.max_steps, method=pb.method,
        tolerances=pb.tolerances,
    )
    return stacked, names


def _subject(pb: Problem, i: int) -> Problem:
    return jax.tree.map(lambda x: x[i], pb)


def _fit_group(z0: np.ndarray, pb: Problem, mesh, sharding: str, report, label: str) -> dict:
    """Every start of every problem stacked in `pb`, then the best start of each, run on
    from inside its bounds where it stopped at one and refined where it has not
    converged: the best point `z`, its objective `v`, convergence, LM Jacobian, which
    starts failed (`bad`), compile seconds, devices."""
    S = z0.shape[0]
    f = jnp.result_type(float)
    run = run_starts(jnp.asarray(z0, f), pb, problem_axis=0, mesh=mesh, sharding=sharding,
                     progress=report, stage="fitting" + label)
    values = run.objective
    bad = ~np.isfinite(values) | (values >= 1e20)
    failed = bad.all(axis=1)
    best = np.argmin(np.where(bad, np.inf, values), axis=1)
    rows = np.arange(S)
    z, v = run.z[rows, best], values[rows, best]
    conv, jac = run.converged[rows, best], run.jacobian[rows, best]
    compile_time = run.compile_time

    def continue_best(start, which, stage: str, lr_scale: float, strictly: bool):
        """The `which` subjects' best starts run on from `start` (the same compiled
        program: every start of a subject at that point), kept where their objective
        is lower (`strictly`: by more than rounding) or no higher."""
        nonlocal z, v, conv, jac, compile_time
        again = run_starts(jnp.asarray(np.repeat(start[:, None], z0.shape[1], axis=1), f), pb,
                           problem_axis=0, mesh=mesh, sharding=sharding, lr_scale=lr_scale,
                           progress=report, stage=stage + label)
        compile_time += again.compile_time
        better = which & improves(again.objective[:, 0], v, strictly)
        z = np.where(better[:, None], again.z[:, 0], z)
        v = np.where(better, again.objective[:, 0], v)
        conv = np.where(better, again.converged[:, 0], conv)
        jac = np.where(better[:, None, None], again.jacobian[:, 0], jac)

    # Best starts at a bound run on from inside it (`inside_bounds`); unconverged ones
    # continue from where they are (gentler steps for Adam).
    start, at = inside_bounds(np.asarray(z))
    if np.any(at & ~failed):
        continue_best(start, at & ~failed, "leaving a bound", 1.0, strictly=True)
    if np.any(~conv & ~failed):
        continue_best(np.asarray(z), ~conv & ~failed, "refining", 0.1, strictly=False)
    return dict(z=z, v=v, conv=conv, jac=jac, bad=bad, compile_time=compile_time,
                devices=run.devices, processes=run.processes)


def fit_per_subject(
    data: Data,
    estimate: Sequence[str],
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    priors: Mapping[str, Any] | None = None,
    noise: NoiseSpec = None,
    noise_sd: Mapping[str, float] | None = None,
    optimiser: str = DEFAULT_OPTIMISER,
    n_starts: int = 4,
    seed: int = 0,
    max_steps: int = 100,
    progress: Progress | bool | None = None,
    method: str = "auto",
    devices: int | None = None,
    sharding: str = "shard_map",
    chunk_subjects: int | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> PerSubjectResult:
    """Fit `estimate` to every subject of `data` separately, in one batched computation.

    Arguments as `fit`, and:
    - `priors`: name -> (median, GSD) for every subject, or an `(S, 2)` array of one
      (median, GSD) per subject, in the order of `data.subjects` (say, the plausible range
      of each subject's own genotype).
    - `noise_sd`: observable -> SD (a CV for a log-normal observable) held fixed; the
      other observables' noise SDs are estimated for each subject.
    - `n_starts`, `seed`: scrambled-Sobol starts (the same points, on each subject's
      own bounds, for every subject).
    - `devices`: how many of `jax.devices()` share the subjects (default all);
      `sharding`: "shard_map" or "named" (`_optimise.SHARDINGS`).
    - `chunk_subjects`: fit this many subjects at a time (the last group padded, so one
      compiled program serves every group), for a cohort whose batch of starts does not
      fit in device memory; None: all at once. Subjects are independent, so the
      estimates are the same.
    - `rtol`, `atol`: the ODE solver's tolerances (None: `simulate`'s, 1e-6 and 1e-9).

    Returns a `PerSubjectResult`; a subject whose every start fails is a row of NaN
    (`failed`), never an exception.
    """
    t_start = time.perf_counter()
    if int(n_starts) < 1:
        raise ALSJaxError(f"starts must be >= 1, got {n_starts}")
    pb, names = subject_problems(data, estimate, bounds=bounds, priors=priors, noise=noise,
                                 noise_sd=noise_sd, optimiser=optimiser, max_steps=max_steps,
                                 method=method, rtol=rtol, atol=atol)
    shared, own = split_priors(priors, data.n_subjects)
    if chunk_subjects is not None and int(chunk_subjects) < 1:
        raise ALSJaxError(f"chunk_subjects must be >= 1, got {chunk_subjects}")
    mesh = device_mesh(devices)
    S, size = data.n_subjects, len(names)
    one = _subject(pb, 0)
    z0 = np.repeat(sobol_starts(int(n_starts), one, seed)[None], S, axis=0)
    run_mesh = mesh if mesh.size > 1 else None
    K = S if chunk_subjects is None else min(int(chunk_subjects), S)
    host = jax.tree.map(np.asarray, pb) if K < S else None
    parts = []
    with resolve_progress(progress) as report:
        for a in range(0, S, K):
            group = np.arange(a, min(a + K, S))
            if host is None:
                pb_g, z0_g, label = pb, z0, ""
            else:  # the last group padded with copies of its first subject: one program
                take = np.concatenate([group, np.full(K - group.size, a)])
                pb_g = jax.tree.map(lambda x, take=take: jnp.asarray(x[take]), host)
                z0_g, label = z0[take], f" subjects {a + 1}-{group[-1] + 1} of {S}"
            part = _fit_group(z0_g, pb_g, run_mesh, sharding, report, label)
            parts.append({k: v[:group.size] if isinstance(v, np.ndarray) else v
                          for k, v in part.items()})
    z, v, conv, jac, bad = (np.concatenate([p[k] for p in parts])
                            for k in ("z", "v", "conv", "jac", "bad"))
    failed = bad.all(axis=1)
    compile_time = sum(p["compile_time"] for p in parts)
    n_devices = parts[0]["devices"]
    lower, upper = np.asarray(pb.lower), np.asarray(pb.upper)
    from scipy.special import expit  # here: a pooled fit never needs it

    theta = lower + (upper - lower) * expit(z)  # no overflow for z far below a bound
    cov_se = np.full((S, size), np.nan)
    lap_ctime = 0.0
    for i in np.flatnonzero(~failed):
        if np.all(np.isfinite(jac[i])):
            # The Fisher information reads only the row counts from the problem.
            pb_i = dataclasses.replace(one, n_noise_rows=pb.n_noise_rows[i])
            cov, _ = laplace(theta[i], pb_i, jac[i])
        else:
            cov, ctime = laplace(theta[i], _subject(pb, i))
            lap_ctime += ctime
        d = np.diag(cov)
        cov_se[i] = np.sqrt(np.where(d >= 0, d, np.nan))
    est, se, lo, hi = (np.full((S, size), np.nan) for _ in range(4))
    bottom, top = (np.broadcast_to(b, theta.shape) for b in (lower, upper))
    n_rows = np.asarray(pb.n_noise_rows)
    for j, n in enumerate(names):
        transform = transform_of(n)
        has_rows = np.ones(S, bool)
        if n.startswith("sigma:"):
            has_rows = n_rows[:, OBSERVABLE_NAMES.index(n.split(":", 1)[1])] > 0
        for i in np.flatnonzero(~failed & has_rows):
            est[i, j] = physical_value(n, theta[i, j])
            s = cov_se[i, j]
            if np.isfinite(s):
                se[i, j] = float(transform.physical_se(est[i, j], float(s)))
                # Within the bounds, as for the pooled fit.
                lo[i, j] = physical_value(n, max(theta[i, j] - 1.96 * s, bottom[i, j]))
                hi[i, j] = physical_value(n, min(theta[i, j] + 1.96 * s, top[i, j]))
    span = upper - lower
    # Within `AT_BOUND_FRACTION` of the range, as the pooled fit's diagnostics say.
    at_lower = ~failed[:, None] & (theta - lower <= AT_BOUND_FRACTION * span)
    at_bound = at_lower | (~failed[:, None] & (upper - theta <= AT_BOUND_FRACTION * span))
    present = set(np.asarray(data.obs)[np.asarray(data.mask)].tolist())
    return PerSubjectResult(
        subjects=data.subjects, names=names, estimates=est, std_errors=se, ci_low=lo,
        ci_high=hi, stored=np.where(failed[:, None], np.nan, theta),
        stored_std_errors=np.where(failed[:, None], np.nan, cov_se), at_bound=at_bound,
        at_lower=at_lower,
        objective=np.where(failed, np.nan, v), converged=conv & ~failed, failed=failed,
        starts_ok=(~bad).sum(axis=1), n_starts=int(n_starts), seed=int(seed),
        optimiser=pb.optimiser,
        noise={k: m for i, (k, m) in enumerate(zip(OBSERVABLE_NAMES, pb.noise, strict=True))
               if i in present},
        fixed_noise={k: float(s) for k, s in (noise_sd or {}).items()},
        priors=shared, subject_priors=own,
        devices=n_devices, processes=parts[0]["processes"],
        wall_time=time.perf_counter() - t_start,
        compile_time=compile_time + lap_ctime,
        chunk_subjects=None if chunk_subjects is None else int(chunk_subjects),
        preset_version=data.preset_version, tolerances=pb.tolerances,
        align=data.align,
    )


# --- outputs ----------------------------------------------------------------------------


def _render_png(result: PerSubjectResult) -> bytes:
    """A strip plot per estimated quantity: one dot per subject (log axis for positive
    values; a triangle for an estimate at a bound), the median and the 10th-90th
    percentiles."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    P = len(result.names)
    fig = Figure(figsize=(max(3.2 * P, 6.4), 3.6), layout="constrained")  # room for the title
    axes = np.atleast_1d(fig.subplots(1, P))
    rng = np.random.default_rng(0)  # horizontal jitter only
    spread = result.spread()
    shown = {}  # legend label -> a handle, for the kinds of point drawn in any panel
    for ax, j, n in zip(axes, range(P), result.names, strict=True):
        v = result.estimates[:, j]
        ok = np.isfinite(v)
        x = rng.uniform(-0.2, 0.2, v.size)
        conv = ok & result.converged
        edge = result.at_bound[:, j]
        for which, style in ((conv & ~edge, dict(s=10, alpha=0.6, color="tab:blue",
                                                 label="converged")),
                             (ok & ~conv, dict(s=12, marker="x", color="tab:red",
                                               label="not converged")),
                             (conv & edge, dict(s=22, marker="^", facecolors="none",
                                                edgecolors="tab:orange", label="at a bound"))):
            if which.any():
                shown.setdefault(style["label"], ax.scatter(x[which], v[which], **style))
        s = spread[n]
        if s["median"] is not None:
            ax.hlines([s["p10"], s["median"], s["p90"]], -0.35, 0.35,
                      colors=["0.5", "black", "0.5"], linestyles=["--", "-", "--"])
        # A log axis where the values span a decade; narrower, its labels read 7.5x10^-1.
        if ok.any() and np.all(v[ok] > 0) and v[ok].max() > 10 * v[ok].min():
            ax.set_yscale("log")
        ax.set_xticks([])
        ax.set_xlim(-0.5, 0.5)
        ax.set_title(n + (f" ({int(edge.sum())} at a bound)" if edge.any() else ""),
                     fontsize=9, color="tab:orange" if edge.any() else "black")
    # Below the panels, where it covers no point; only the kinds drawn somewhere.
    lines = [Line2D([], [], color=c, ls=ls) for c, ls in (("black", "-"), ("0.5", "--"))]
    fig.legend([*shown.values(), *lines], [*shown, "median", "10th / 90th percentile"],
               loc="outside lower center", ncols=len(shown) + 2, fontsize=7)
    fig.suptitle(f"per-subject estimates: {len(result.subjects)} subjects, "
                 f"{result.n_failed} failed (median and 10th/90th percentiles)", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def write_per_subject(result: PerSubjectResult, out: str | os.PathLike, *,
                      data_path: str = "", command: list[str] | None = None) -> list[Path]:
    """Write subjects.csv, summary.json and subjects.png as the whole content of folder
    `out` (rendered in memory, then swapped in as one set: `_io.write_folder`)."""
    csv = result.table().to_csv(index=False, float_format="%.10g", na_rep="NaN")
    summary = {OUTPUT_MARKER: "per-subject"} | dict(
        kind="per-subject", data=data_path,
        command=shlex.join(command if command is not None else sys.argv),
        n_subjects=len(result.subjects), n_failed=result.n_failed,
        failed_subjects=[s for s, f in zip(result.subjects, result.failed, strict=True) if f],
        n_converged=int(result.converged.sum()), optimiser=result.optimiser,
        n_starts=result.n_starts, seed=result.seed, noise=result.noise,
        fixed_noise_sd=result.fixed_noise, devices=result.devices,
        chunk_subjects=result.chunk_subjects, processes=result.processes,
        preset_version=result.preset_version, align=result.align,
        priors={n: dict(median=json_float(m), gsd=json_float(g))
                for n, (m, g) in result.priors.items()},
        subject_priors={n: [dict(median=json_float(m), gsd=json_float(g), subjects=[
            s for s, q in zip(result.subjects, pairs, strict=True) if q == (m, g)])
            for m, g in dict.fromkeys(pairs)] for n, pairs in result.subject_priors.items()},
        rtol=result.tolerances[0], atol=result.tolerances[1],
        subjects_at_bound={n: int(result.at_bound[:, j].sum())
                           for j, n in enumerate(result.names)},
        warnings=result.bound_notes(),
        **peak_memory(result.devices),
        wall_time_s=json_float(result.wall_time, 4),
        compile_time_s=json_float(result.compile_time, 4),
        # The names before 2026-12-07, kept for readers written against them.
        wall_time=json_float(result.wall_time), compile_time=json_float(result.compile_time),
        spread=result.spread(), versions=versions(),
    )
    return write_folder(out, {"subjects.csv": csv,
                              "summary.json": json.dumps(summary, indent=2) + "\n",
                              "subjects.png": _render_png(result)})


def run_per_subject(
    recipe: Recipe | str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    noise_sd: Mapping[str, float] | None = None,
    devices: int | None = None,
    chunk_subjects: int | None = None,
    progress: Progress | bool | None = None,
    command: list[str] | None = None,
    force: bool = False,
) -> PerSubjectResult:
    """A recipe's data and choices fitted subject by subject (`alsjax fit --per-subject`):
    `fit_per_subject`, then (with `out`) `write_per_subject`. Profiles and fitted time
    shifts are not available per subject. A population recipe's `[population]` table is
    set aside: each subject's `random` and `estimate` parameters are fitted."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    recipe = without_population(recipe)
    prefix = f"{recipe.source}: " if recipe.source else ""
    if recipe.profile:
        raise ALSJaxError(f"{prefix}profile: not available with per-subject fits")
    if recipe.fit_shifts:
        raise ALSJaxError(f"{prefix}fit_shifts: not available with per-subject fits")
    df = read_measurements(recipe.data)
    data = make_data(df, align=recipe.align, preset_version=recipe.preset_version)
    if out is not None:
        check_output_folder(out, force=force)
    try:
        result = fit_per_subject(
            data, recipe.estimate, bounds=recipe.bounds,
            priors=fit_priors(recipe, df, subjects=data.subjects),
            noise=recipe.noise, noise_sd=noise_sd,
            optimiser=recipe.optimiser or DEFAULT_OPTIMISER, n_starts=recipe.starts,
            seed=recipe.seed, max_steps=recipe.max_steps, progress=progress,
            devices=devices, chunk_subjects=chunk_subjects, rtol=recipe.rtol, atol=recipe.atol)
    except ALSJaxError as e:
        raise ALSJaxError(f"{prefix}{e}") from None
    if out is not None:
        write_per_subject(result, out, data_path=str(recipe.data), command=command)
    return result
