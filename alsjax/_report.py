"""Output files of a fit: tables other tools read, a summary, and pictures.

Everything is rendered in memory first and then written as one set (`_io.write_folder`:
a temporary folder beside the target, swapped in when complete), so a failure while
rendering or writing leaves the folder as it was, and no folder ever mixes two runs.
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
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._errors import ALSJaxError
from ._io import (
    OUTPUT_MARKER,
    WRITE_LOCK,
    atomic_open,
    atomic_savefig,
    json_float,
    peak_memory,
    versions,
    write_folder,
)
from ._likelihood import predict, shifts
from ._noise import own_sd
from ._observables import EVENT_NAMES, OBSERVABLE_LABELS, OBSERVABLE_NAMES, OBSERVABLE_UNITS
from ._optimise import noise_floor
from ._params import PARAMETERS
from ._problem import Problem, prior_table, transform_of, unpack
from ._programs import compile_program, during_long_compile, prefetch_program, to_device
from ._result import FitResult
from ._uncertainty import CHI2_95

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




def _arm_spread(params, data) -> np.ndarray:
    """Per event slot: the SD of log event days of an arm summary, the row's `sigma` or
    the subject's `arm_event_spread`, as the likelihood reads them."""
    spread = np.broadcast_to(np.exp(np.asarray(params.arm_event_spread, float)),
                             (data.n_subjects,))
    sd = np.asarray(data.event_sigma)
    return np.where(np.isnan(sd), spread[:, None], sd)


def _arm_fraction(T, data, sd) -> np.ndarray:
    """Per event slot: the fraction of an arm with the event by the slot's day, its
    patients' days log-normal about the course's `T` (data clock) with the arm's spread
    `sd` (`_arm_spread`), as the likelihood reads arm summaries
    (`_likelihood._arm_curve_terms`). `ndtr` is the normal CDF, from scipy.special:
    scipy.stats would add 0.6 s of imports to every run."""
    from scipy.special import ndtr  # here: a fit without arm summaries never loads it

    t = np.maximum(np.asarray(data.event_time), 1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ndtr((np.log(t) - np.log(np.maximum(T, 1e-6))) / sd)


_ARM_STYLES = ("-", "--", ":", "-.")


def _arm_panel(ax, data, T, sd, colours, scale: float, xlabel: str, span: float) -> None:
    """Arm summaries as survival curves: each arm's event-free fraction (data, with a 95%
    binomial interval) against the likelihood's curve for it (its course's event day with
    the arm's spread `sd`, `_arm_spread`; `_likelihood._arm_curve_terms`)."""
    from scipy.special import betaincinv, ndtr

    arm = np.asarray(data.event_summary)
    et, etype = np.asarray(data.event_time), np.asarray(data.event_type)
    at_risk, count = np.asarray(data.event_at_risk), np.asarray(data.event_count)
    t = np.linspace(span / 400, span * 1.02, 200)
    arms = np.flatnonzero(arm.any(axis=1))
    for s, e in zip(*np.nonzero(arm), strict=True):
        curve = np.flatnonzero(arm[s] & (etype[s] == etype[s, e]))  # in file order
        first = curve[0]
        spread = float(sd[s, e])
        colour = colours[s]
        i = int(np.searchsorted(arms, s))
        if e == first:  # one curve per arm and event
            surv = ndtr((np.log(max(T[s, e], 1e-6)) - np.log(t)) / spread)
            name = f"{data.subjects[s]}: {_EVENT_LABEL[EVENT_NAMES[etype[s, e]]]}-free"
            # A line style per arm: arms the model does not tell apart (the same course
            # and spread) draw one curve, and each stays visible in the other's gaps.
            ax.plot(t / scale, surv, color=colour, lw=1.3, ls=_ARM_STYLES[i % len(_ARM_STYLES)],
                    label=f"{name} (model)")
        # The arm's own points: n at day 0 is its curve's largest at-risk count (the
        # earliest point's); the Clopper-Pearson interval of the event-free share
        # (counts may be fractional).
        n = float(at_risk[s, curve].max())
        alive = float(at_risk[s, e] - count[s, e])  # event-free after this step
        k = n - alive
        lo = betaincinv(alive, k + 1, 0.025) if alive > 0 else 0.0  # Beta quantiles
        hi = betaincinv(alive + 1, k, 0.975) if k > 0 else 1.0
        # The arms' points side by side, within 6 % of the span.
        nudge = (i - (arms.size - 1) / 2) * min(0.006, 0.06 / arms.size) * span
        ax.errorbar((et[s, e] + nudge) / scale, alive / n,
                    yerr=[[alive / n - lo], [hi - alive / n]], fmt="o", ms=4, color=colour,
                    capsize=2, lw=0.9)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, span * 1.02 / scale)
    ax.set_title("arms: event-free fraction (data with 95% interval)", fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction event-free")
    ax.legend(fontsize=7, loc="best")


def prefetch_report(pb: Problem) -> None:
    """Compile the report's solve for problem `pb` in the background while XLA compiles
    the fit's optimiser (`prefetch_program`: traced beside the fit's own trace it would
    slow that by as much); `render_outputs` then finds it ready."""
    f = jnp.result_type(float)
    prefetch_program(_arrays, to_device(np.zeros(pb.size, f)), pb, _dense_fractions(),
                     quick=True)
    during_long_compile(_import_figure_modules, "import matplotlib")


def _import_figure_modules() -> None:
    """The modules `_render_figure` imports (0.35 s on 2 cores), imported ahead."""
    import matplotlib.backends.backend_agg  # noqa: F401 - savefig's canvas
    import matplotlib.collections  # noqa: F401
    import matplotlib.figure  # noqa: F401


def _dense_fractions():
    """0 to 1 in `_DENSE` steps, the dense grid's fractions of each subject's span.
    NumPy's linspace (`to_device`): the same float64 numbers as jnp.linspace without an
    XLA program of its own (in float32 they may differ in the last bit)."""
    return to_device(np.linspace(0.0, 1.0, _DENSE))


PLOT_FORMATS: tuple[str, ...] = ("png", "pdf", "svg")
_YEARS_FROM = 3 * 365.25  # a time axis longer than this reads in years
_EVENT_STYLE = {"onset": ("^", "tab:orange"), "death": ("X", "black"),
                "end_stage": ("s", "tab:red")}
_EVENT_LABEL = {"onset": "onset", "death": "death", "end_stage": "end stage"}


def time_axis(origin: str, span: float) -> tuple[float, str]:
    """Divisor and axis label of a time axis: days since `origin` ("days of age" for
    mice), years when the span is longer than three years."""
    if span > _YEARS_FROM:
        return 365.25, "years of age" if origin == "age" else f"years since {origin}"
    return 1.0, "days of age" if origin == "age" else f"days since {origin}"


def _origin(df: pd.DataFrame, data, result: FitResult | None = None) -> str:
    """Day 0 of the data: age for mice, onset for onset-aligned data, else the cascade's
    start. Onset-aligned data whose day 0 the fit moves (fitted time shifts, or an
    estimated `onset_threshold`, which recipes use for the stage at randomisation) are on
    their own clock: "the data's day 0"."""
    species = df["species"] if "species" in df else pd.Series(dtype=str)
    if len(species) and (species.astype(str) == "mouse").all():
        return "age"
    if not bool(np.asarray(data.onset_aligned).any()):
        return "cascade start"
    moved = result is not None and (result.time_shift is not None
                                    or "onset_threshold" in result.names)
    return "the data's day 0" if moved else "onset"


def _subject_colours(n: int) -> np.ndarray:
    """Distinct colours: the 10 of tab10 up to 10 subjects, else evenly spaced on a
    perceptually uniform map (colour then says 'which subject', legend-free). RGBA rows."""
    import matplotlib

    if n <= 10:
        return np.asarray([matplotlib.colormaps["tab10"](i) for i in range(n)]).reshape(n, 4)
    return matplotlib.colormaps["viridis"](np.linspace(0.0, 0.92, n))


def _plain_axis(axis) -> None:
    """Numbers as they are: no offset or multiplier (`1.2453e-8` above the axis)."""
    from matplotlib.ticker import ScalarFormatter

    fmt = ScalarFormatter(useOffset=False)
    fmt.set_scientific(False)
    axis.set_major_formatter(fmt)


def error_bar(value: np.ndarray, sigma: np.ndarray, log_scale: np.ndarray) -> np.ndarray:
    """Distances below and above each value to the ends of its 95 % interval, read as the
    likelihood reads a row's own sigma (`_noise.own_sd`): value x/÷ e^(1.96 sd) on the log
    scale, value ± 1.96 sigma on the linear one. Shape (2, n), as `errorbar` takes it."""
    sd = np.asarray(own_sd(value, sigma, log_scale))
    low = np.where(log_scale, value * -np.expm1(-1.96 * sd), 1.96 * sd)
    high = np.where(log_scale, value * np.expm1(1.96 * sd), 1.96 * sd)
    return np.stack([low, high])


def _render_figure(result: FitResult, df: pd.DataFrame, dense_t, dense, T, shift,
                   profiles, fmt: str) -> bytes:
    """fit.{png,pdf,svg}: each observable's data and fitted curves, the events, the
    multistart waterfall and each profile likelihood, every panel labelled."""
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    data = result.data
    mask, obs = np.asarray(data.mask), np.asarray(data.obs)
    times, values = np.asarray(data.times), np.asarray(data.values)
    sigma = np.nan_to_num(np.asarray(data.sigma), nan=0.0)
    summary = np.asarray(data.summary)
    bars = False
    arm = np.asarray(data.event_summary)
    ev_mask = np.asarray(data.event_mask) & ~arm
    obs_present = [k for k in range(len(OBSERVABLE_NAMES)) if (mask & (obs == k)).any()]
    has_events = bool(ev_mask.any())
    has_arms = bool(arm.any())
    n_panels = len(obs_present) + has_events + has_arms + 1 + len(profiles)
    cols = min(3, n_panels)
    rows = math.ceil(n_panels / cols)
    fig = Figure(figsize=(4.6 * cols, 3.6 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    S = data.n_subjects
    colours = _subject_colours(S)
    origin = _origin(df, data, result)
    span = float(max(np.max(np.where(mask, times, 0.0)), np.max(dense_t)))
    if has_arms:
        span = max(span, float(np.max(np.where(arm, np.asarray(data.event_time), 0.0))))
    scale, xlabel = time_axis(origin, span)
    few = S <= 8
    # Subjects with one and the same course (same preset, therapy and clock) share one
    # model curve, drawn in the model's own colour; distinct courses take their subject's.
    course = [*jax.tree.leaves(result.params), np.asarray(data.therapy.on),
              np.asarray(data.therapy.start), shift]
    same = all(np.array_equal(np.asarray(a), np.broadcast_to(np.asarray(a)[:1], np.shape(a)))
               for a in course)
    longest = int(np.argmax(dense_t[:, -1]))
    panel = iter(axes)
    # Each kind of mark is one artist for all subjects (colour per subject): thousands of
    # subjects draw in a second, where an artist per subject took minutes.
    for k in obs_present:
        ax = next(panel)
        sel = mask & (obs == k)
        who = np.flatnonzero(sel.any(axis=1))
        if same:
            ax.plot(dense_t[longest] / scale, dense[longest, :, k], color="0.15", lw=1.4,
                    zorder=3)
        else:
            ax.add_collection(LineCollection(
                np.stack([dense_t[who] / scale, dense[who, :, k]], axis=-1),
                colors=colours[who], linewidths=1.0, alpha=0.9 if few else 0.6))
        s_of, i_of = np.nonzero(sel)
        known = sigma[s_of, i_of] > 0  # rows that give their own sigma: a 95 % bar
        if known.any():
            sk, ik = s_of[known], i_of[known]
            v = values[sk, ik]
            log_scale = (result.noise.get(OBSERVABLE_NAMES[k]) == "lognormal") & ~summary[sk, ik]
            low, high = error_bar(v, sigma[sk, ik], log_scale)
            x = times[sk, ik] / scale
            ax.add_collection(LineCollection(
                np.stack([np.stack([x, v - low], -1), np.stack([x, v + high], -1)], axis=1),
                colors=colours[sk], linewidths=0.8, alpha=0.8))
            bars = True
        ax.scatter(times[s_of, i_of] / scale, values[s_of, i_of], s=(3.2 if few else 2.2) ** 2,
                   c=colours[s_of], edgecolors="white", linewidths=0.3, zorder=2.5)
        ax.autoscale_view()
        name = OBSERVABLE_NAMES[k]
        ax.set_title(OBSERVABLE_LABELS[name], fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(OBSERVABLE_UNITS[name])
        _plain_axis(ax.xaxis)
    if has_events:
        ax = next(panel)
        et, etype = np.asarray(data.event_time), np.asarray(data.event_type)
        seen = np.asarray(data.event_observed)
        subject = np.broadcast_to(np.arange(S)[:, None], ev_mask.shape)
        ms = 5 if S <= 40 else 2.5  # a row per subject: smaller marks when rows are thin
        for j, name in enumerate(EVENT_NAMES):
            marker, colour = _EVENT_STYLE[name]
            for observed in (True, False):
                m = ev_mask & (etype == j) & (seen == observed)
                ax.plot(et[m] / scale, subject[m], marker if observed else ">", ls="", ms=ms,
                        color=colour, mfc=colour if observed else "none")
        m = ev_mask & np.isfinite(T)
        ax.plot(T[m] / scale, subject[m], "|", ls="", ms=1.8 * ms, mew=1.5, color="0.35")
        handles = [Line2D([], [], ls="", marker=_EVENT_STYLE[n][0], color=_EVENT_STYLE[n][1],
                          label=f"{_EVENT_LABEL[n]} (data)")
                   for n in EVENT_NAMES if (ev_mask & (etype == EVENT_NAMES.index(n))).any()]
        handles += [Line2D([], [], ls="", marker=">", mfc="none", color="0.3",
                           label="censored (still event-free)"),
                    Line2D([], [], ls="", marker="|", ms=9, mew=1.5, color="0.35",
                           label="model")]
        ax.legend(handles=handles, fontsize=7, loc="best")
        ax.set_title("events", fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("subject")
        if S <= 16:
            ax.set_yticks(range(S))
            ax.set_yticklabels(list(data.subjects), fontsize=6)
        else:  # a tick per subject would be a black bar; number them instead
            ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(-0.7, S - 0.3)
    if has_arms:
        _arm_panel(next(panel), data, T, _arm_spread(result.params, data), colours, scale,
                   xlabel, span)
    # One legend for data and model; subjects by colour when they are few.
    legend = [Line2D([], [], color="0.15", lw=1.4,
                     label="model (fit)" if same else "model (fit; each subject's colour)"),
              Line2D([], [], ls="", marker="o", ms=4, color="0.4",
                     label="data (bars: 95 % from the row's sigma)" if bars else "data")]
    if few:
        legend += [Line2D([], [], ls="", marker="s", color=colours[s], label=name)
                   for s, name in enumerate(data.subjects)]
    else:
        legend.append(Line2D([], [], ls="", label=f"{S} subjects, one colour each"))
    if obs_present:
        axes[0].legend(handles=legend, fontsize=7, loc="best")
    ax = next(panel)
    order = np.argsort(result.start_objectives)
    vals = result.start_objectives[order]
    ok = ~result.start_failed[order]
    x = np.arange(1, len(vals) + 1)
    best = float(np.nanmin(vals[ok])) if ok.any() else 0.0
    gap = np.where(ok, vals - best, np.nan)
    # Within the objective's noise (the solver's steps move it by about rtol; the
    # optimiser stops at `noise_floor`) two objectives are the same optimum: such starts
    # sit on the floor line instead of spreading that noise over decades.
    floor = max(1e-6 * max(1.0, abs(best)), noise_floor(result.problem.tolerances[0]))
    at_best = ok & ~(gap > floor)
    shown = np.where(gap > floor, gap, floor)
    ax.plot(x[ok], shown[ok], "-", color="tab:blue", lw=1.0)
    if (ok & ~at_best).any():
        ax.plot(x[ok & ~at_best], shown[ok & ~at_best], "o", color="tab:blue", ms=4,
                label="other local optimum")
    ax.plot(x[at_best], shown[at_best], "o", color="tab:green", ms=6,
            label=f"at the best ({int(at_best.sum())} of {len(vals)})")
    ax.axhline(floor, color="grey", ls=":", lw=0.8,
               label=f"same optimum: within noise ({floor:.1e})")
    top = float(np.nanmax(shown[ok])) if ok.any() else floor
    if (~ok).any():
        top *= 10
        ax.plot(x[~ok], np.full((~ok).sum(), top), "x", color="red", label="failed start")
    ax.set_yscale("log")
    ax.set_ylim(floor / 10, max(top, floor) * 100)
    ax.set_title(f"multistart waterfall (best -log posterior {best:.6g})", fontsize=10)
    ax.set_xlabel("start, sorted by objective")
    ax.set_ylabel("-log posterior minus best")
    ax.set_xticks(x if len(x) <= 20 else x[:: max(1, len(x) // 10)])
    ax.legend(fontsize=7, loc="best")
    for prof in profiles:
        ax = next(panel)
        finite = np.isfinite(prof.objective)
        ax.plot(prof.values[finite], 2 * (prof.objective[finite] - prof.best), "o-",
                color="tab:blue", ms=4, label="profile (others re-fitted)")
        ax.axhline(CHI2_95, color="grey", ls="--", lw=0.8, label="95% threshold (3.84)")
        ax.axvline(prof.estimate, color="red", lw=0.8, label="estimate")
        lo, hi = result.ci_low[prof.parameter], result.ci_high[prof.parameter]
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axvspan(lo, hi, color="0.9", label="Laplace 95% interval", zorder=0)
        finite_d = 2 * (prof.objective[finite] - prof.best)
        if finite_d.size:
            ax.set_ylim(-0.3, max(float(finite_d.max()), CHI2_95) * 1.45)
        # A log axis only where the grid spans a decade; narrower, its ticks crowd.
        log = bool(np.all(prof.values > 0)) and prof.values.max() > 10 * prof.values.min()
        ax.set_xscale("log" if log else "linear")
        if log:  # plain numbers at 1, 2 and 5 per decade (1 and 3 over 2-3 decades, 1 per
            # decade beyond: long labels such as 0.001 and 0.002 would run together)
            decades = float(np.log10(prof.values.max() / prof.values.min()))
            subs = (1.0, 2.0, 5.0) if decades <= 2 else (1.0, 3.0) if decades <= 3 else (1.0,)
            ax.xaxis.set_major_locator(LogLocator(subs=subs))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            _plain_axis(ax.xaxis)
        unit = _UNITS.get(prof.parameter, "")
        ax.set_title(f"profile likelihood: {prof.parameter}", fontsize=10)
        ax.set_xlabel(f"{prof.parameter} ({unit})" if unit and unit != "1"
                      else prof.parameter)
        ax.set_ylabel("2 Δ(-log likelihood)")
        ax.legend(fontsize=7, loc="upper center", ncols=2)
    for ax in panel:
        ax.axis("off")
    title = f"{result.optimiser}: {S} subject{'s' * (S != 1)}, estimated " + \
        ", ".join(n for n in result.names if ":" not in n)
    fig.suptitle(title, fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    return buf.getvalue()


def render_outputs(result: FitResult, df: pd.DataFrame, *, data_path: str = "",
                   command: list[str] | None = None, plot_format: str = "png",
                   progress=None, phases: dict[str, float | None] | None = None,
                   ) -> dict[str, str | bytes]:
    """Every output file of a fit, rendered in memory: name -> text or bytes.
    `df` is the frame `read_measurements` returned for `result.data`; `progress` (see
    `fit`) hears "compiling" and then the stage "report". `phases`: wall seconds of the
    run's earlier phases (`run_recipe`), recorded in summary.json's "phases_s" with
    the report's own ("report_s", of which "figure_s")."""
    if plot_format not in PLOT_FORMATS:
        raise ALSJaxError(f"plot format: expected one of {', '.join(PLOT_FORMATS)}, "
                          f"got {plot_format!r}")
    t_report = time.perf_counter()
    profiles = result.profiles
    theta = to_device(result.theta)
    frac = _dense_fractions()
    t0 = time.perf_counter()
    if progress is not None:
        progress("compiling", 0, 0)
    exe = compile_program(_arrays, theta, result.problem, frac, quick=True)
    report_compile = time.perf_counter() - t0
    if progress is not None:
        progress("report", 0, 2)
    f, T, shift, dense_t, dense, _ = jax.tree.map(np.asarray,
                                                  exe(theta, result.problem, frac))
    diag = result.diagnostics
    by_name = {p.parameter: p for p in profiles}

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
        prof = by_name.get(n)
        rows.append(dict(parameter=n, estimate=result.estimates[n],
                         std_error=result.std_errors[n], ci_low=result.ci_low[n],
                         ci_high=result.ci_high[n], transform=tr,
                         stored_estimate=result.stored[n],
                         stored_std_error=result.stored_std_errors[n], unit=unit,
                         nominal=result.nominal[n], lower_bound=result.lower[n],
                         upper_bound=result.upper[n], noise=noise,
                         at_bound=bool(diag.at_bound[n]) if diag else False,
                         profile_ci_low=prof.ci_low if prof else math.nan,
                         profile_ci_high=prof.ci_high if prof else math.nan))
    parameters = pd.DataFrame(rows).to_csv(index=False, float_format="%.10g")

    # predictions.csv: the data rows in their order, with prediction and residual
    pred = np.full(len(df), np.nan)
    data = result.data
    ri, eri = np.asarray(data.row_index), np.asarray(data.event_row_index)
    pred[ri[ri >= 0]] = f[ri >= 0]
    pred[eri[eri >= 0]] = np.where(np.isfinite(T[eri >= 0]), T[eri >= 0], np.nan)
    # An arm summary's prediction is the fraction of the arm with the event by its day,
    # in the units of its value (a subject's own event row: the predicted day).
    summary = np.asarray(data.event_summary) & (eri >= 0)
    is_arm = np.zeros(len(df), bool)
    is_arm[eri[summary]] = True
    if summary.any():
        pred[eri[summary]] = _arm_fraction(T, data, _arm_spread(result.params, data))[summary]
    table = df.copy()
    table["prediction"] = pred
    table["residual"] = table["value"].to_numpy(dtype=float) - pred
    is_event = table["observable"].isin(EVENT_NAMES).to_numpy() & ~is_arm
    table.loc[is_event, "residual"] = table.loc[is_event, "time"].to_numpy(float) - pred[is_event]
    predictions = table.to_csv(index=False, float_format="%.10g")

    # petab_parameters.tsv (nominalValue holds the fitted value)
    prow = []
    for n in result.names:
        prow.append(dict(parameterId=n.replace(":", "_"),
                         parameterScale=transform_of(n).petab_scale,
                         lowerBound=result.lower[n], upperBound=result.upper[n],
                         nominalValue=result.estimates[n], estimate=1))
    petab = pd.DataFrame(prow).to_csv(index=False, sep="\t", float_format="%.10g")

    if progress is not None:
        progress("report", 1, 2)
    t_figure = time.perf_counter()
    figure = _render_figure(result, df, dense_t, dense, T, shift, list(profiles),
                            plot_format)
    phases = dict(phases or {}, figure_s=time.perf_counter() - t_figure)
    timings = {k: dict(v) for k, v in result.timings.items()}
    for p in profiles:
        timings[f"profile {p.parameter}"] = dict(compile_s=p.compile_time, run_s=p.run_time)
    timings["report"] = dict(compile_s=report_compile,
                             run_s=time.perf_counter() - t_report - report_compile)

    # summary.json: plain Python floats throughout (json_float), None for inf and NaN
    summary = {
        OUTPUT_MARKER: "fit",
        "objective": json_float(result.objective), "converged": bool(result.converged),
        "optimiser": result.optimiser, "seed": int(result.seed),
        "preset_version": result.data.preset_version,
        # name -> the log-normal prior's median and GSD (logit-normal for a fraction)
        "priors": {n: dict(median=json_float(m), gsd=json_float(g))
                   for n, (m, g) in prior_table(result.problem).items()},
        "noise": dict(result.noise),  # observable -> gaussian (an SD) / lognormal (a CV)
        "n_starts": int(result.n_starts),
        "rtol": float(result.problem.tolerances[0]),
        "atol": float(result.problem.tolerances[1]),
        "starts": [dict(objective=json_float(v), converged=bool(c), failed=bool(fl),
                        steps=int(s))
                   for v, c, fl, s in zip(result.start_objectives, result.start_converged,
                                          result.start_failed, result.start_steps,
                                          strict=True)],
        "n_failed_starts": int(result.start_failed.sum()),
        "n_iter": int(result.n_iter), "wall_time_s": json_float(result.wall_time, 4),
        "compile_time_s": json_float(result.compile_time, 4),
        "timings_s": {k: {m: json_float(x, 4) for m, x in v.items()}
                      for k, v in timings.items()},
        "phases_s": {k: None if v is None else json_float(v, 4)
                     for k, v in dict(phases, report_s=time.perf_counter() - t_report).items()},
        "estimates": {n: json_float(v) for n, v in result.estimates.items()},
        "std_errors": {n: json_float(v) for n, v in result.std_errors.items()},
        "ci_low": {n: json_float(v) for n, v in result.ci_low.items()},
        "ci_high": {n: json_float(v) for n, v in result.ci_high.items()},
        "at_bound": {n: bool(v) for n, v in diag.at_bound.items()} if diag else {},
        "diagnostics": None if diag is None else {
            "bound_side": {n: v for n, v in diag.bound_side.items() if v},
            "min_scaled_eigenvalue": json_float(diag.min_eigenvalue),
            "weakest_direction": {n: json_float(v, 4)
                                  for n, v in diag.weakest_direction.items()},
            "heterogeneity": None if diag.heterogeneity is None else
            {k: (int(v) if k == "df" else json_float(v))
             for k, v in diag.heterogeneity.items()},
            "warnings": list(diag.warnings)},
        # day 0 of the data's times (and of predictions.csv): symptom onset or the cascade
        "align": data.align,
        "time_shift_days": None if result.time_shift is None else
        {s: json_float(v) for s, v in zip(data.subjects, shift, strict=True)},
        "subjects": list(data.subjects),
        "n_measurements": int(np.asarray(data.mask).sum()),
        "n_events": int(np.asarray(data.event_mask).sum()), "data": data_path,
        "profiles": [dict(parameter=p.parameter, ci_low=json_float(p.ci_low),
                          ci_high=json_float(p.ci_high), warning=p.note or None)
                     for p in profiles],
        **peak_memory(),  # a pooled fit runs on the default device
        "versions": versions(),
        "command": shlex.join(command if command is not None else sys.argv),
    }
    files: dict[str, str | bytes] = {
        "parameters.csv": parameters, "predictions.csv": predictions,
        "petab_parameters.tsv": petab, f"fit.{plot_format}": figure,
    }
    if profiles:
        prof_rows = [dict(parameter=p.parameter, value=v, objective=o, converged=bool(c))
                     for p in profiles
                     for v, o, c in zip(p.values, p.objective, p.converged, strict=True)]
        files["profiles.csv"] = pd.DataFrame(prof_rows).to_csv(index=False,
                                                               float_format="%.10g")
    files["summary.json"] = json.dumps(summary, indent=2) + "\n"  # last: marks a whole set
    if progress is not None:
        progress("report", 2, 2)
    return files


def write_outputs(result: FitResult, df: pd.DataFrame, out: str | os.PathLike, *,
                  data_path: str = "", command: list[str] | None = None,
                  plot_format: str = "png", progress=None,
                  phases: dict[str, float | None] | None = None) -> list[Path]:
    """Write parameters.csv, predictions.csv, summary.json, fit.png (or .pdf, .svg),
    petab_parameters.tsv (and profiles.csv with `result.profiles`) as the whole content
    of folder `out` (`_io.write_folder`: an earlier run there is replaced as one set);
    returns the paths written. `df` is the frame `read_measurements` returned for
    `result.data`; `phases`: see `render_outputs`."""
    files = render_outputs(result, df, data_path=data_path, command=command,
                           plot_format=plot_format, progress=progress, phases=phases)
    return write_folder(out, files)


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


def _observable_grid(observables: dict):
    """The 2 x 4 figure of `plot_simulation` and `plot_draws`: one panel per observable,
    titled with its unit (the eighth panel is the caller's)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 6.5), layout="constrained")
    axes = fig.subplots(2, 4, sharex=True).ravel()
    for ax, name in zip(axes, observables, strict=False):
        ax.set_title(OBSERVABLE_LABELS.get(name, name), fontsize=10)
        ax.set_ylabel(OBSERVABLE_UNITS[name], fontsize=8)
        _plain_axis(ax.yaxis)
    return fig, axes


def day_text(day: float, digits: int = 0) -> str:
    """A day as printed: rounded, and never "-0" (an onset a solver step before day 0)."""
    text = f"{day:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


_DRUG_COLOURS = ("tab:green", "tab:purple", "tab:brown", "tab:pink")  # by `DRUGS` order


def plot_simulation(path: str | os.PathLike, ts, observables: dict,
                    events: dict[str, float], title: str, *,
                    origin: str = "cascade start", drugs: dict[str, float] | None = None
                    ) -> None:
    """Every observable against time (titles with units; the axis says its origin,
    `origin`: "cascade start", "onset" or "age"), a marked line at each event and at each
    drug's start (`drugs`: name -> day on this clock), one legend; saved atomically
    (format from the suffix: png, pdf or svg)."""
    from matplotlib.lines import Line2D

    from ._therapy import DRUGS

    ts = np.asarray(ts)
    drugs = drugs or {}
    scale, xlabel = time_axis(origin, float(ts[-1] - ts[0]))
    fig, axes = _observable_grid(observables)
    styles = {"onset": ("tab:orange", "--"), "death": ("black", "-"),
              "end_stage": ("tab:red", ":")}
    styles |= {d: (_DRUG_COLOURS[DRUGS.index(d)], "-.") for d in drugs}
    marks = {**events, **drugs}
    for ax, v in zip(axes, observables.values(), strict=False):
        ax.plot(ts / scale, np.asarray(v), color="tab:blue", lw=1.4)
        if "death" in events and np.isfinite(events["death"]):
            ax.axvspan(events["death"] / scale, ts[-1] / scale, color="0.92")
        for mark, day in marks.items():
            if np.isfinite(day):
                color, style = styles[mark]
                ax.axvline(day / scale, color=color, linestyle=style, linewidth=1)
    for ax in axes[len(observables):]:
        ax.axis("off")
    handles = [Line2D([], [], color="tab:blue", lw=1.4, label="model")]
    for event, day in events.items():
        color, style = styles[event]
        when = f"day {day_text(day)}" if np.isfinite(day) else "not reached"
        handles.append(Line2D([], [], color=color, ls=style,
                              label=f"{_EVENT_LABEL[event]} ({when})"))
    for drug, day in drugs.items():
        color, style = styles[drug]
        handles.append(Line2D([], [], color=color, ls=style,
                              label=f"{drug} from day {day_text(day)}"))
    if "death" in events and np.isfinite(events["death"]):
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.92", label="after death"))
    axes[-1].legend(handles=handles, loc="center", title="legend", fontsize=9)
    for ax in axes[:len(observables)]:
        ax.set_xlabel(xlabel)
        ax.xaxis.set_tick_params(labelbottom=True)
    fig.suptitle(title)
    atomic_savefig(fig, path, dpi=120)


def write_draws(path: str | os.PathLike, table_path: str | os.PathLike, table: str, ts, sol,
                chunk: int = 500, progress=None) -> None:
    """`alsjax simulate --draws`' two files, each atomically and the pair under the output
    lock (Ctrl-C waits for both renames or neither starts): every draw's course as a tidy
    CSV at `path` (draw, time, observable, value; a failed draw's values NaN after its
    failure), written `chunk` draws at a time so that a large ensemble's text never sits in
    memory whole (`progress("writing", done, n)` after each), and the text `table` (the
    table of draws, `draws_table`) at `table_path`."""
    ts = np.asarray(ts)
    names = list(sol.observables)
    values = np.stack([np.asarray(sol.observables[k]) for k in names], axis=-1)  # (n, T, K)
    n, T = values.shape[:2]
    locked = False
    try:
        with atomic_open(path) as f:
            f.write("draw,time,observable,value\n")
            for first in range(0, n, chunk):
                part = values[first:first + chunk]
                m = part.shape[0]
                pd.DataFrame({
                    "draw": np.repeat(np.arange(first + 1, first + m + 1), T * len(names)),
                    "time": np.tile(np.repeat(ts, len(names)), m),
                    "observable": np.tile(names, m * T), "value": part.ravel(),
                }).to_csv(f, index=False, header=False, float_format="%.10g")
                if progress is not None:
                    progress("writing", first + m, n)
            with atomic_open(table_path) as g:
                g.write(table)
                locked = WRITE_LOCK.acquire()  # held over both renames (the exits)
    finally:
        if locked:
            WRITE_LOCK.release()


def draws_table(sol, params, extra: dict | None = None) -> str:
    """The text of `alsjax simulate --draws`' table of draws: one row per draw (draw,
    success, status, each event's day, empty where not reached, the `extra` columns, and
    every parameter that varies between draws, in physical units)."""
    from ._params import physical
    from ._simulate import FAILURE_REASONS

    n = np.asarray(sol.success).shape[0]
    table = {"draw": np.arange(1, n + 1), "success": np.asarray(sol.success),
             "status": [FAILURE_REASONS[int(s)] if not ok else "" for s, ok in
                        zip(np.asarray(sol.status), np.asarray(sol.success), strict=True)]}
    for event, days in sol.events.items():
        table[event] = np.where(np.isfinite(np.asarray(days)), np.asarray(days), np.nan)
    table.update(extra or {})
    for name, v in physical(params).items():
        v = np.asarray(v)
        if np.ptp(v) > 0:
            table[name] = v
    return pd.DataFrame(table).to_csv(index=False, float_format="%.10g")


def plot_draws(path: str | os.PathLike, ts, sol, title: str, *,
               origin: str = "cascade start", shown: int = 25) -> None:
    """Every observable of an ensemble against time: the median and 10-90 % band of the
    draws alive then (a course ends at its death), `shown` draws as thin lines, and a
    panel with the fraction of draws past onset (unless the clock starts there) and dead;
    saved atomically."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ts = np.asarray(ts)
    scale, xlabel = time_axis(origin, float(ts[-1] - ts[0]))
    ok = np.asarray(sol.success)
    death = np.where(ok, np.asarray(sol.events["death"]), -np.inf)
    alive = ts[None, :] <= death[:, None]  # (n, T); a failed draw is left out
    fig, axes = _observable_grid(sol.observables)
    x = ts / scale
    for ax, v in zip(axes, sol.observables.values(), strict=False):
        v = np.where(alive, np.asarray(v), np.nan)
        for row in v[:shown]:
            ax.plot(x, row, color="0.6", lw=0.5, alpha=0.6)
        enough = np.sum(alive, axis=0) >= 5  # percentiles of fewer draws are noise
        with warnings.catch_warnings():  # a column with every draw dead: all NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            p10, p50, p90 = np.nanpercentile(v, [10, 50, 90], axis=0)
        ax.fill_between(x, np.where(enough, p10, np.nan), np.where(enough, p90, np.nan),
                        color="tab:blue", alpha=0.25, lw=0)
        ax.plot(x, np.where(enough, p50, np.nan), color="tab:blue", lw=1.6)
    ax = axes[-1]
    n = int(ok.sum())
    shown_events = (("death", "black"),) if origin == "onset" else (
        ("onset", "tab:orange"), ("death", "black"))
    for event, color in shown_events:
        days = np.asarray(sol.events[event])[ok]
        ax.step(x, np.mean(days[:, None] <= ts[None, :], axis=0), where="post", color=color,
                label=f"past {event}")
    ax.set_ylim(0.0, 1.0)
    ax.set_title(f"fraction of the {n} draws", fontsize=10)
    handles = [Patch(color="tab:blue", alpha=0.25, label="10-90 % of draws alive"),
               Line2D([], [], color="tab:blue", lw=1.6, label="median"),
               Line2D([], [], color="0.6", lw=0.5, label=f"{min(shown, n)} draws"),
               *ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, fontsize=9, loc="outside lower center", ncols=len(handles))
    for a in axes:
        a.set_xlabel(xlabel)
        a.xaxis.set_tick_params(labelbottom=True)
    fig.suptitle(title)
    atomic_savefig(fig, path, dpi=120)
