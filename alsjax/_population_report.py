"""Output files of a population fit: `write_population_outputs`.

parameters.csv (population values, covariate effects, noise SDs, random-effect SDs and
correlations, with SEs and 95% intervals), subjects.csv (empirical Bayes estimates with
conditional SDs and shrinkage), summary.json (-2 log L, AIC, BIC, counts, devices, peak
memory), vpc.png (a visual predictive check) and individuals.png (subjects' data against
their individual fits). Everything is rendered in memory first, then the folder is
written as one set (`_io.write_folder`).

**The visual predictive check.** `n_sim` replicates of the study: each replicate draws
new random effects eta ~ N(0, Omega) for every subject (keeping its covariates, preset,
therapy and visit days), simulates it and adds noise from the fitted noise model. Per
observable and time bin, the observed 10th, 50th and 90th percentiles are drawn against
the 5-95% range of the same percentiles over the replicates; a model that describes the
population puts each observed line inside its band.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import shlex
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ._cohort import solve_cohort
from ._errors import ALSJaxError
from ._io import (
    OUTPUT_MARKER,
    check_output_folder,
    json_float,
    peak_memory,
    versions,
    write_folder,
)
from ._likelihood import predictions, shifts
from ._observables import OBSERVABLE_NAMES, OBSERVABLE_UNITS
from ._params import PARAMETERS, parameter_transform
from ._population import PopulationResult, omega_cholesky, subject_parameters
from ._presets import LATEST_PRESET
from ._programs import to_device
from ._progress import resolve_progress
from ._therapy import Therapy

_UNITS = {i.name: i.unit for i in PARAMETERS}
_DENSE = 100
PERCENTILES = (10.0, 50.0, 90.0)


VPC_TRAJECTORIES = 16_384
"""Trajectories (replicates x subjects) the visual predictive check solves per compiled
call: the call's memory stays bounded, and its progress is reported between calls."""
VPC_LANES_FROM = 4_096
"""From this many trajectories a call on the lane queue (`simulate_batch`), below it the
vmap of `simulate`: on 500 subjects, 20,000 trajectories took 1.7 s on the lanes against
7.8 s in lockstep (every one stepped until the slowest ended), while below a few thousand
the vmap compiles in half the time (3.6 against 7 s) and runs within a second of them
(benchmarks/RESULTS.md, 2026-12-07)."""


def _simulate_replicates(keys, phi, pp, data, method: str):
    """Predictions (len(keys), S, T) at every data slot for new random effects, one
    replicate per key: every replicate's subjects solved as one cohort."""
    R = pp.n_random
    L = omega_cholesky(phi[pp.n_model:], R, pp.covariance == "full")
    S, C = data.n_subjects, keys.shape[0]

    def draw(k):
        eta = jax.random.normal(k, (S, R), phi.dtype) @ L.T
        return subject_parameters(phi, eta, data, pp)

    params = jax.tree.map(lambda x: x.reshape((C * S,) + x.shape[2:]), jax.vmap(draw)(keys))
    cohort = dataclasses.replace(
        jax.tree.map(lambda x: jnp.tile(x, (C,) + (1,) * (x.ndim - 1)), data),
        subjects=("",) * (C * S))  # replicate c's subject s is row c S + s
    f = predictions(params, cohort, method=method)[0]
    return f.reshape((C, S) + f.shape[1:])


_replicates_jit = jax.jit(_simulate_replicates, static_argnames="method")


def _dense(params, data, frac):
    """Each subject's trajectories on a dense grid of its own data days."""
    shift = shifts(params, data, method="vmap")
    tmax = jnp.max(jnp.where(data.mask, data.times, 0.0), axis=1)
    tmin = jnp.min(jnp.where(data.mask, data.times, jnp.inf), axis=1)
    tmin = jnp.where(jnp.isfinite(tmin), tmin, 0.0)
    t = tmin[:, None] * 0.9 + frac[None, :] * (tmax * 1.05 - tmin * 0.9)[:, None]
    therapy = Therapy(on=data.therapy.on, start=data.therapy.start + shift[:, None])
    sol = solve_cohort(params, t + shift[:, None], therapy, method="vmap")
    return t, sol.observables


_dense_jit = jax.jit(_dense)


def _noisy(f, data, result: PopulationResult, rng):
    obs = np.asarray(data.obs)
    sd = result.noise_sd[obs]
    given = np.asarray(data.sigma)
    log = np.array([m == "lognormal" for m in result.problem.noise])[obs]
    sd = np.where(np.isnan(given), sd, np.where(log, given / np.abs(np.asarray(data.values)),
                                                given))
    z = rng.standard_normal(f.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(log, f * np.exp(sd * z), f + sd * z)


def _bins(t: np.ndarray, n_bins: int = 6) -> np.ndarray:
    """Bin edges at quantiles of the observed days (distinct days when few)."""
    u = np.unique(t)
    if len(u) <= n_bins:
        mids = (u[1:] + u[:-1]) / 2
        return np.concatenate([[u[0] - 1], mids, [u[-1] + 1]])
    edges = np.unique(np.quantile(t, np.linspace(0, 1, n_bins + 1)))
    edges[-1] += 1e-9
    return edges


def vpc_arrays(result: PopulationResult, *, n_sim: int = 200, seed: int = 0,
               progress=None):
    """Per observable: bin centres, observed percentiles (bins x 3) and the 5/50/95%
    quantiles over the replicates of the simulated percentiles (3 x bins x 3).
    `progress(stage, done, total)` hears the replicates simulated ("simulating")."""
    data = result.data
    n_sim, S = int(n_sim), data.n_subjects
    if n_sim < 1:
        raise ALSJaxError(f"n_sim: the VPC needs at least 1 replicate, got {n_sim}")
    keys = jax.random.split(jax.random.key(seed), n_sim)
    per_call = max(1, min(n_sim, VPC_TRAJECTORIES // S))
    method = "lanes" if per_call * S >= VPC_LANES_FROM else "vmap"
    phi = jnp.asarray(result.phi)
    parts = []
    for first in range(0, n_sim, per_call):
        # The last call is topped up with copies of the last key: one program for all.
        rows = np.minimum(np.arange(first, first + per_call), n_sim - 1)
        out = _replicates_jit(keys[rows], phi, result.problem, data, method=method)
        parts.append(np.asarray(out)[:n_sim - first])
        if progress is not None:
            progress("simulating", min(first + per_call, n_sim), n_sim)
    f = np.concatenate(parts)
    y_sim = _noisy(f, data, result, np.random.default_rng(seed))
    mask, obs = np.asarray(data.mask), np.asarray(data.obs)
    times, values = np.asarray(data.times), np.asarray(data.values)
    out = {}
    for k in sorted(set(obs[mask].tolist())):
        sel = mask & (obs == k)
        t, y = times[sel], values[sel]
        edges = _bins(t)
        which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
        centres, observed, simulated = [], [], []
        ys = y_sim[:, sel]
        for b in range(len(edges) - 1):
            inb = which == b
            if inb.sum() < 2:
                continue
            centres.append(float(np.mean(t[inb])))
            observed.append(np.percentile(y[inb], PERCENTILES))
            with np.errstate(invalid="ignore"):
                per_rep = np.nanpercentile(ys[:, inb], PERCENTILES, axis=1).T  # n_sim x 3
            simulated.append(np.nanpercentile(per_rep, (5.0, 50.0, 95.0), axis=0))
        out[OBSERVABLE_NAMES[k]] = (np.asarray(centres), np.asarray(observed),
                                    np.asarray(simulated).transpose(1, 0, 2), (t, y))
    return out


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def render_vpc(vpc: dict, n_sim: int) -> bytes:
    plt = _figure()
    names = list(vpc)
    fig, axes = plt.subplots(1, len(names), figsize=(5.0 * len(names), 3.8), squeeze=False)
    colours = ("tab:blue", "tab:red", "tab:blue")
    for ax, name in zip(axes[0], names, strict=True):
        centres, observed, simulated, (t, y) = vpc[name]
        ax.plot(t, y, "o", ms=2.5, color="grey", alpha=0.4, label="data")
        for j in range(len(PERCENTILES)):
            if len(centres):
                ax.fill_between(centres, simulated[0, :, j], simulated[2, :, j],
                                color=colours[j], alpha=0.18 if j != 1 else 0.28, lw=0)
                ax.plot(centres, simulated[1, :, j], color=colours[j], lw=0.8, ls="--")
                label = {0: "observed 10th, 90th", 1: "observed median"}.get(j)
                ax.plot(centres, observed[:, j], "o-", color=colours[j], lw=1.6, ms=3.5,
                        label=label)
        ax.plot([], [], color="grey", ls="--", lw=0.8, label="simulated (median, 90% band)")
        if name == "nfl":
            ax.set_yscale("log")
        ax.set_title(f"VPC: {name} ({n_sim} replicates, 90% bands)")
        ax.set_xlabel("day")
        ax.set_ylabel(OBSERVABLE_UNITS[name])
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def render_individuals(result: PopulationResult, max_subjects: int = 12) -> bytes:
    plt = _figure()
    S = min(result.data.n_subjects, max_subjects)
    # Only the subjects drawn are solved.
    data = dataclasses.replace(jax.tree.map(lambda x: np.asarray(x)[:S], result.data),
                               subjects=result.data.subjects[:S])
    params = jax.tree.map(lambda x: np.asarray(x)[:S], result.params)
    frac = to_device(np.linspace(0.0, 1.0, _DENSE))
    t_dense, dense = (np.asarray(a) for a in _dense_jit(params, data, frac))
    cols = min(4, S)
    rows = math.ceil(S / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
    mask, obs = np.asarray(data.mask), np.asarray(data.obs)
    times, values = np.asarray(data.times), np.asarray(data.values)
    present = sorted(set(obs[mask].tolist()))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for s, ax in enumerate(axes.ravel()):
        if s >= S:
            ax.axis("off")
            continue
        axis = {present[0]: ax}
        for j, k in enumerate(present[1:2]):
            axis[k] = ax.twinx()
            del j
        for j, k in enumerate(present[:2]):
            a, c = axis[k], colours[j]
            sel = mask[s] & (obs[s] == k)
            a.plot(t_dense[s], dense[s, :, k], color=c, lw=1.2)
            a.plot(times[s, sel], values[s, sel], "o", ms=3, color=c)
            a.set_ylabel(OBSERVABLE_NAMES[k], color=c, fontsize=8)
            a.tick_params(labelsize=7)
        failed = " (failed)" if result.failed[s] else ""
        eta = ", ".join(f"{n} {result.individual[n][s]:.3g}" for n in result.random)
        ax.set_title(f"{data.subjects[s]}{failed}: {eta}", fontsize=7)
        ax.set_xlabel("day", fontsize=8)
    fig.suptitle("individual fits at the empirical Bayes estimates (lines) and data", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _parameters_csv(result: PopulationResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["parameter", "estimate", "std_error", "ci_low", "ci_high", "kind",
                "stored", "stored_std_error", "transform", "unit"])
    idx = {n: i for i, n in enumerate(result.phi_names)}
    se = np.sqrt(np.abs(np.diag(result.phi_covariance)))
    for n, kind in zip(result.names, result.kinds, strict=True):
        i = idx.get(n)
        stored = f"{result.phi[i]:.10g}" if i is not None else ""
        sse = f"{se[i]:.6g}" if i is not None else ""
        if kind == "population":
            transform, unit = parameter_transform(n).name, _UNITS[n]
        elif kind == "omega":
            transform, unit = "log", "SD of the stored (" \
                f"{parameter_transform(n.split(':', 1)[1]).name}) value"
        elif kind == "noise":
            k = n.split(":", 1)[1]
            transform = "log"
            # As the pooled fit's parameters.csv writes it (`_report`).
            unit = ("1 (SD of log value)" if result.noise.get(k) == "lognormal"
                    else OBSERVABLE_UNITS[k])
        elif kind == "covariate":
            target = n.split("~", 1)[0]
            transform, unit = "none", f"shift of stored {target}"
        else:
            transform, unit = "none", "1"
        w.writerow([n, f"{result.estimates[n]:.10g}", f"{result.std_errors[n]:.6g}",
                    f"{result.ci_low[n]:.10g}", f"{result.ci_high[n]:.10g}", kind, stored,
                    sse, transform, unit])
    return buf.getvalue()


def _subjects_csv(result: PopulationResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["subject", "parameter", "estimate", "std_error", "ci_low", "ci_high",
                "conditional_sd", "shrinkage", "eta", "stored", "failed"])
    for s, subject in enumerate(result.subjects):
        for j, n in enumerate(result.random):
            t = parameter_transform(n)
            th, sd = float(result.individual_stored[n][s]), float(result.eta_sd[s, j])
            est = float(result.individual[n][s])
            failed = bool(result.failed[s])
            cells = ([math.nan] * 4 if failed else
                     [est, float(t.physical_se(est, sd)), float(t.to_physical(th - 1.96 * sd)),
                      float(t.to_physical(th + 1.96 * sd))])
            w.writerow([subject, n, *(f"{c:.10g}" for c in cells),
                        f"{sd:.6g}" if not failed else "nan",
                        f"{result.shrinkage[n]:.6g}", f"{result.eta[s, j]:.6g}",
                        f"{th:.10g}", str(failed).lower()])
    return buf.getvalue()


def _summary(result: PopulationResult, data_path: str, command) -> str:
    cmd = command if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]]
    summary = {
        OUTPUT_MARKER: "population",
        "method": "laplace (FOCE-I)",
        "minus2_log_likelihood": json_float(result.minus2ll),
        "aic": json_float(result.aic),
        "bic": json_float(result.bic),
        "bic_observations": result.n_observations,
        "n_subjects": result.n_subjects,
        "n_failed_subjects": result.n_failed,
        "failed_subjects": [s for s, f in zip(result.subjects, result.failed, strict=True)
                            if f],
        "n_observations": result.n_observations,
        "n_parameters": int(result.phi.size),
        "random": list(result.random),
        "fixed": list(result.fixed),
        "covariates": list(result.covariates),
        "covariance": result.covariance,
        "preset_version": result.data.preset_version,
        "align": result.data.align,
        "estimates": {n: json_float(v) for n, v in result.estimates.items()},
        "shrinkage": {n: json_float(v) for n, v in result.shrinkage.items()},
        "noise": result.noise,
        "converged": result.converged,
        "newton_decrease": json_float(result.newton_decrease),
        "standard_errors": result.se_method,
        "start": result.start,
        "objective_resolution": json_float(result.objective_resolution),
        "inner_converged": int(np.sum(result.inner_converged)),
        "n_iter": result.n_iter,
        "n_evaluations": result.n_evaluations,
        "wall_time_s": json_float(result.wall_time, 4),
        "compile_time_s": json_float(result.compile_time, 4),
        "seed": result.seed,
        "n_starts": result.n_starts,
        "devices": result.devices,
        "chunk_subjects": result.chunk_subjects,
        **peak_memory(result.devices),
        "data": data_path,
        "command": shlex.join(str(c) for c in cmd),
        "versions": versions(),
    }
    return json.dumps(summary, indent=2) + "\n"


def write_population_outputs(result: PopulationResult, out: str | os.PathLike, *,
                             data_path: str = "", command: list[str] | None = None,
                             n_sim: int = 200, seed: int = 0, progress=None) -> list[Path]:
    """Write parameters.csv, subjects.csv, summary.json, vpc.png and individuals.png as
    the whole content of folder `out` (rendered in memory, then swapped in as one set:
    `_io.write_folder`); returns the paths written. `progress`: see `vpc_arrays`."""
    files = {
        "parameters.csv": _parameters_csv(result),
        "subjects.csv": _subjects_csv(result),
        "summary.json": _summary(result, data_path, command),
        "vpc.png": render_vpc(vpc_arrays(result, n_sim=n_sim, seed=seed, progress=progress),
                              n_sim),
        "individuals.png": render_individuals(result),
    }
    return write_folder(out, files)


def run_population(data_path: str | os.PathLike, out: str | os.PathLike | None = None, *,
                   random, estimate=(), covariates=(), covariance: str = "diagonal",
                   noise=None, n_starts: int = 1, seed: int = 0, max_steps: int = 100,
                   align: str = "cascade", preset_version: str = LATEST_PRESET,
                   progress=None,
                   command: list[str] | None = None, force: bool = False,
                   devices: int | None = None, chunk_subjects: int | None = None,
                   gtol: float = 1e-3, rtol: float | None = None,
                   atol: float | None = None, se: str = "auto",
                   start: str = "preset") -> PopulationResult:
    """Read a measurement file, fit the population model and (with `out`) write its
    output files: what `run_recipe` runs for a recipe with a `[population]` table.
    Everything is checked before the fit runs, and nothing is written before it is
    done."""
    from ._data import read_measurements
    from ._dataset import make_data
    from ._population import fit_population, make_population

    frame = read_measurements(data_path)
    make_population(make_data(frame, align=align, preset_version=preset_version), random,
                    estimate=estimate,
                    covariates=covariates, frame=frame, covariance=covariance, noise=noise)
    if out is not None:
        check_output_folder(out, force=force)
    with resolve_progress(progress) as report:
        result = fit_population(frame, random, estimate=estimate, covariates=covariates,
                                covariance=covariance, noise=noise, n_starts=n_starts,
                                seed=seed, max_steps=max_steps, progress=report, align=align,
                                preset_version=preset_version,
                                devices=devices, chunk_subjects=chunk_subjects,
                                gtol=gtol, rtol=rtol, atol=atol, se=se, start=start)
        if out is not None:
            write_population_outputs(result, out, data_path=str(data_path),
                                     command=command, seed=seed, progress=report)
    return result
