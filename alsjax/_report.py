"""Output files of a fit: tables other tools read, a summary, and pictures.

Everything is rendered in memory first and then written file by file atomically, so a
failure while rendering writes nothing and an interrupted write leaves no partial file.
"""

from __future__ import annotations

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
import pandas as pd

from ._errors import ALSJaxError
from ._io import atomic_open, atomic_savefig, atomic_write_text, json_float, versions
from ._likelihood import predict, shifts
from ._observables import EVENT_NAMES, OBSERVABLE_NAMES, OBSERVABLE_UNITS
from ._params import PARAMETERS
from ._problem import transform_of, unpack
from ._result import FitResult

_UNITS = {i.name: i.unit for i in PARAMETERS}
_DENSE = 120


def _arrays(theta, pb, frac):
    """Slot predictions, event days (data clock), shifts and dense trajectories, from one
    solve per subject over the data days and the dense grid merged (one compiled solve)."""
    params, _, time_shift = unpack(theta, pb)
    shift = shifts(params, pb.data, time_shift, method=pb.method)
    tmax = jnp.max(jnp.where(pb.data.mask, pb.data.times, 0.0), axis=1)
    tmax = jnp.maximum(tmax, jnp.max(jnp.where(pb.data.event_mask, pb.data.event_time, 0.0),
                                     axis=1))
    dense_t = frac[None, :] * jnp.maximum(tmax, 1.0)[:, None] * 1.05
    both = jnp.concatenate([pb.data.times, dense_t], axis=1)
    order = jnp.argsort(both, axis=1)
    merged = dataclasses.replace(pb.data, times=jnp.take_along_axis(both, order, axis=1))
    sol = predict(params, merged, shift, method=pb.method)
    pred, events, ok = sol.observables, sol.events, sol.success
    pred = jnp.take_along_axis(pred[:, :-1, :], jnp.argsort(order, axis=1)[..., None], axis=1)
    n = pb.data.times.shape[1]
    f = jnp.take_along_axis(pred[:, :n, :], pb.data.obs[..., None], axis=-1)[..., 0]
    T = jnp.take_along_axis(events, pb.data.event_type, axis=1) - shift[:, None]
    return f, T, shift, dense_t, pred[:, n:, :], ok


_arrays_jit = jax.jit(_arrays)


def _render_png(result: FitResult, df: pd.DataFrame, dense_t, dense, profiles) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    data = result.data
    obs_present = [k for k in range(len(OBSERVABLE_NAMES))
                   if (np.asarray(data.mask) & (np.asarray(data.obs) == k)).any()]
    n_panels = len(obs_present) + 1 + len(profiles)
    cols = min(3, n_panels)
    rows = math.ceil(n_panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    axes = axes.ravel()
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    mask, obs = np.asarray(data.mask), np.asarray(data.obs)
    times, values = np.asarray(data.times), np.asarray(data.values)
    for ax, k in zip(axes, obs_present, strict=False):
        for s, name in enumerate(data.subjects):
            c = colours[s % len(colours)]
            sel = mask[s] & (obs[s] == k)
            if not sel.any():
                continue
            ax.plot(dense_t[s], dense[s, :, k], color=c, lw=1.2)
            ax.plot(times[s, sel], values[s, sel], "o", ms=3.5, color=c,
                    label=name if len(data.subjects) <= 8 else None)
        ax.set_title(OBSERVABLE_NAMES[k])
        ax.set_xlabel("day")
        ax.set_ylabel(OBSERVABLE_UNITS[OBSERVABLE_NAMES[k]])
        if len(data.subjects) <= 8:
            ax.legend(fontsize=7)
    ax = axes[len(obs_present)]
    order = np.argsort(result.start_objectives)
    vals = result.start_objectives[order]
    ok = ~result.start_failed[order]
    x = np.arange(1, len(vals) + 1)
    best = np.nanmin(vals[ok]) if ok.any() else 0.0
    ax.plot(x[ok], vals[ok] - best, "o-", color=colours[0], label="finished")
    if (~ok).any():
        top = np.nanmax(vals[ok] - best) if ok.any() else 1.0
        ax.plot(x[~ok], np.full((~ok).sum(), top), "x", color="red", label="failed")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_title("multistart waterfall")
    ax.set_xlabel("start (sorted)")
    ax.set_ylabel(f"-log posterior - {best:.6g}")
    ax.legend(fontsize=7)
    for ax, prof in zip(axes[len(obs_present) + 1:], profiles, strict=False):
        ax.plot(prof.values, 2 * (prof.objective - prof.best), "o-")
        ax.axhline(3.841, color="grey", ls="--", lw=0.8)
        ax.axvline(prof.estimate, color="red", lw=0.8)
        ax.set_xscale("log" if np.all(prof.values > 0) else "linear")
        ax.set_title(f"profile: {prof.parameter}")
        ax.set_ylabel("2 Δ(-log L)")
    for ax in axes[n_panels:]:
        ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def check_writable(out: str | os.PathLike) -> Path:
    """Create `out` if needed and check a file can be written there (one-line error)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ALSJaxError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".alsjax-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ALSJaxError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    return out


def write_outputs(result: FitResult, df: pd.DataFrame, out: str | os.PathLike, *,
                  data_path: str = "", command: list[str] | None = None) -> list[Path]:
    """Write parameters.csv, predictions.csv, summary.json, fit.png, petab_parameters.tsv
    (and profiles.csv with `result.profiles`) into `out`; returns the paths written.
    `df` is the frame `read_measurements` returned for `result.data`."""
    out = Path(out)
    profiles = result.profiles
    theta = jnp.asarray(result.theta)
    frac = jnp.linspace(0.0, 1.0, _DENSE)
    f, T, shift, dense_t, dense, _ = jax.tree.map(
        np.asarray, _arrays_jit(theta, result.problem, frac))

    # parameters.csv
    rows = []
    models = dict(zip(OBSERVABLE_NAMES, result.problem.noise, strict=True))
    for n, tr in zip(result.names, result.transforms, strict=True):
        unit = _UNITS.get(n, "day" if n.startswith("shift:") else "")
        noise = ""
        if n.startswith("sigma:"):
            # A Gaussian observable's sigma is an SD in its unit; a log-normal one's a CV.
            obs = n.split(":", 1)[1]
            noise = f"{models[obs]} {'CV' if models[obs] == 'lognormal' else 'SD'}"
            unit = "1 (SD of log value)" if models[obs] == "lognormal" else OBSERVABLE_UNITS[obs]
        rows.append(dict(parameter=n, estimate=result.estimates[n],
                         std_error=result.std_errors[n], ci_low=result.ci_low[n],
                         ci_high=result.ci_high[n], transform=tr,
                         stored_estimate=result.stored[n],
                         stored_std_error=result.stored_std_errors[n], unit=unit,
                         nominal=result.nominal[n], lower_bound=result.lower[n],
                         upper_bound=result.upper[n], noise=noise))
    parameters = pd.DataFrame(rows).to_csv(index=False, float_format="%.10g")

    # predictions.csv: the data rows in their order, with prediction and residual
    pred = np.full(len(df), np.nan)
    data = result.data
    ri, eri = np.asarray(data.row_index), np.asarray(data.event_row_index)
    pred[ri[ri >= 0]] = f[ri >= 0]
    pred[eri[eri >= 0]] = np.where(np.isfinite(T[eri >= 0]), T[eri >= 0], np.nan)
    table = df.copy()
    table["prediction"] = pred
    table["residual"] = table["value"].to_numpy(dtype=float) - pred
    is_event = table["observable"].isin(EVENT_NAMES).to_numpy()
    table.loc[is_event, "residual"] = table.loc[is_event, "time"].to_numpy(float) - pred[is_event]
    predictions = table.to_csv(index=False, float_format="%.10g")

    # summary.json
    summary = dict(
        objective=json_float(result.objective), converged=bool(result.converged),
        optimiser=result.optimiser, seed=result.seed,
        noise=dict(result.noise),  # observable -> gaussian (sigma an SD) / lognormal (a CV)
        n_starts=result.n_starts,
        starts=[dict(objective=json_float(v), converged=bool(c), failed=bool(fl), steps=int(s))
                for v, c, fl, s in zip(result.start_objectives, result.start_converged,
                                       result.start_failed, result.start_steps, strict=True)],
        n_failed_starts=int(result.start_failed.sum()),
        n_iter=result.n_iter, wall_time_s=round(result.wall_time, 3),
        compile_time_s=round(result.compile_time, 3),
        estimates={n: json_float(v) for n, v in result.estimates.items()},
        std_errors={n: json_float(v) for n, v in result.std_errors.items()},
        time_shift_days=None if result.time_shift is None else
        {s: json_float(v) for s, v in zip(data.subjects, shift, strict=True)},
        subjects=list(data.subjects), n_measurements=int(np.asarray(data.mask).sum()),
        n_events=int(np.asarray(data.event_mask).sum()), data=data_path,
        profiles=[dict(parameter=p.parameter, ci_low=json_float(p.ci_low),
                       ci_high=json_float(p.ci_high)) for p in profiles],
        versions=versions(),
        command=shlex.join(command if command is not None else sys.argv),
    )
    summary_text = json.dumps(summary, indent=2) + "\n"

    # petab_parameters.tsv (nominalValue holds the fitted value)
    prow = []
    for n in result.names:
        prow.append(dict(parameterId=n.replace(":", "_"),
                         parameterScale=transform_of(n).petab_scale,
                         lowerBound=result.lower[n], upperBound=result.upper[n],
                         nominalValue=result.estimates[n], estimate=1))
    petab = pd.DataFrame(prow).to_csv(index=False, sep="\t", float_format="%.10g")

    png = _render_png(result, df, dense_t, dense, list(profiles))
    files: dict[str, str | bytes] = {
        "parameters.csv": parameters, "predictions.csv": predictions,
        "summary.json": summary_text, "petab_parameters.tsv": petab, "fit.png": png,
    }
    if profiles:
        prof_rows = [dict(parameter=p.parameter, value=v, objective=o, converged=bool(c))
                     for p in profiles
                     for v, o, c in zip(p.values, p.objective, p.converged, strict=True)]
        files["profiles.csv"] = pd.DataFrame(prof_rows).to_csv(index=False,
                                                               float_format="%.10g")
    check_writable(out)
    written = []
    for name, content in files.items():
        if isinstance(content, bytes):
            with atomic_open(out / name, "wb") as fh:
                fh.write(content)
        else:
            atomic_write_text(out / name, content)
        written.append(out / name)
    return written


# --- a simulated course ------------------------------------------------------------------


def write_simulation_csv(path: str | os.PathLike, ts, observables: dict) -> None:
    """A simulated course as a tidy CSV, one row per (time, observable), atomically."""
    import csv

    values = {k: np.asarray(v) for k, v in observables.items()}
    with atomic_open(path) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["time", "observable", "value"])
        for i, t in enumerate(np.asarray(ts)):
            for name, v in values.items():
                writer.writerow([f"{t:.10g}", name, f"{v[i]:.10g}"])


def plot_simulation(path: str | os.PathLike, ts, observables: dict,
                    events: dict[str, float], title: str, xlabel: str = "day") -> None:
    """A grid of every observable against time, a vertical line at each event, saved
    atomically (format from the suffix: png, pdf or svg)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(2, 4, sharex=True).ravel()
    styles = {"onset": ("tab:orange", "--"), "death": ("black", "-"),
              "end_stage": ("tab:red", ":")}
    ts = np.asarray(ts)
    for ax, (name, v) in zip(axes, observables.items(), strict=False):
        ax.plot(ts, np.asarray(v), color="tab:blue")
        ax.set_title(name, fontsize=10)
        ax.set_ylabel(OBSERVABLE_UNITS[name], fontsize=8)
        if "death" in events and np.isfinite(events["death"]):
            ax.axvspan(events["death"], ts[-1], color="0.92", label="after death")
        for event, day in events.items():
            if np.isfinite(day):
                color, style = styles[event]
                ax.axvline(day, color=color, linestyle=style, linewidth=1, label=event)
    for ax in axes[len(observables):]:
        ax.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[-1].legend(handles, labels, loc="center", title="events")
    for ax in axes[4:]:
        ax.set_xlabel(xlabel)
    fig.suptitle(title)
    atomic_savefig(fig, path, dpi=120)
