"""The likelihood of time-course data under the cascade: `make_data` and `log_likelihood`.

Data are padded arrays, one row per subject, so a cohort is one `vmap` of `simulate` and
one compilation. The log-likelihood is pure: it jits, vmaps and differentiates, and a
failed solve gives `-inf` (with a finite, zero gradient), never an exception.

**Noise.** Each observable k has its own noise model m_k (`noise`: one name for all, or
a mapping observable -> name, the others taking `DEFAULT_NOISE_MODEL`). For a measurement
row i of observable k with model prediction f_i:

- gaussian (additive): y_i ~ N(f_i, s_i^2), s_i an SD in the observable's unit;
- lognormal (proportional): log y_i ~ N(log f_i, s_i^2), s_i a coefficient of variation;

where s_i is the row's `sigma` when given (converted to log scale as sigma / value for
lognormal) and otherwise the observable's noise SD `sigma[k]`. Arm-summary rows use their
`sigma` as a standard error of the mean, on the linear scale, whatever the noise model.
A value below the row's `lloq` contributes log P(y < lloq) (a Gaussian CDF, on the log
scale for a lognormal observable).

**Events.** The model's event day T (`Solution.events`, model time) is compared with the
observed day t by a log-normal: log t ~ N(log T, EVENT_SD^2) for an observed event, and
log P(event after t) = log Phi((log T - log t) / EVENT_SD) for one censored at t.

**Alignment.** Each subject's data day t is model day t + shift. Cascade-aligned subjects
(and all mice, whose clock is age) have shift 0; onset-aligned subjects have shift = the
model's own predicted onset day, so day 0 of the data is symptom onset. `time_shift` adds
a per-subject offset (days) on top, which `fit(..., fit_shifts=True)` estimates.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from ._batch import simulate_batch
from ._errors import ALSJaxError
from ._model import default_params
from ._observables import EVENT_NAMES, OBSERVABLE_NAMES
from ._params import Params
from ._simulate import simulate
from ._therapy import DRUGS, Therapy, parse_therapy

EVENT_SD = 0.1
"""SD of log event time around the model's prediction (about 10%)."""

NOISE_MODELS: tuple[str, ...] = ("gaussian", "lognormal")

DEFAULT_NOISE_MODEL: dict[str, str] = {
    "alsfrs_r": "gaussian", "nfl": "lognormal", "umn": "gaussian", "lmn": "gaussian",
    "fvc": "gaussian", "grip_strength": "gaussian", "spasticity": "gaussian",
}
"""Each observable's noise model when `noise` does not name it. Scores, percentages and
surviving fractions are read with an error of roughly fixed size (additive); NfL is an
immunoassay concentration whose error grows with the level (a constant CV, log-normal)."""

NoiseSpec = str | Mapping[str, str] | Sequence[str] | None
"""`noise` arguments: None (each observable's `DEFAULT_NOISE_MODEL`), one model name for
every observable, a mapping observable -> model name (the rest default), or the tuple of
`len(OBSERVABLE_NAMES)` names that `noise_models` returns."""

DEFAULT_NOISE_SD: dict[str, dict[str, float]] = {
    "gaussian": {"alsfrs_r": 2.0, "nfl": 10.0, "umn": 0.05, "lmn": 0.05, "fvc": 5.0,
                 "grip_strength": 5.0, "spasticity": 0.3},
    "lognormal": {k: 0.1 for k in OBSERVABLE_NAMES},
}
"""Noise SD of each observable when the data give none and none is estimated."""

ONSET_HORIZON: dict[str, float] = {"human": 36500.0, "mouse": 400.0}
"""How far (days) to look for the model's onset when aligning a subject on it."""

_FAILED_RESIDUAL = 1e3  # per residual, when a solve fails: worse than any sane fit
_TINY = 1e-300


class Data(eqx.Module):
    """A dataset as padded arrays: S subjects x T measurement slots x E event slots.

    Build with `make_data(df)`. Times are each subject's own data days, sorted; padded
    slots repeat the subject's last time and have `mask` False.
    """

    times: Float[Array, "S T"]
    obs: Int[Array, "S T"]  # index into OBSERVABLE_NAMES
    values: Float[Array, "S T"]
    sigma: Float[Array, "S T"]  # NaN where the row gives none
    mask: Bool[Array, "S T"]
    summary: Bool[Array, "S T"]  # arm summaries: sigma is a standard error
    lloq: Float[Array, "S T"]  # NaN where none
    censored: Bool[Array, "S T"]  # value below lloq
    event_type: Int[Array, "S E"]  # index into EVENT_NAMES
    event_time: Float[Array, "S E"]
    event_observed: Bool[Array, "S E"]
    event_mask: Bool[Array, "S E"]
    therapy: Therapy  # batched (S, drugs), starts on the data clock
    base: Params  # batched (S,): each subject's genotype/species preset
    onset_aligned: Bool[Array, " S"]
    onset_horizon: Float[Array, " S"]
    row_index: Int[Array, "S T"]  # position in the source DataFrame, -1 for padding
    event_row_index: Int[Array, "S E"]
    subjects: tuple[str, ...] = eqx.field(static=True)
    any_onset: bool = eqx.field(static=True)
    any_events: bool = eqx.field(static=True)

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)


def make_data(df, *, align: str = "cascade") -> Data:
    """Padded arrays from the canonical frame that `read_measurements` returns.

    `align="onset"`: human subjects' day 0 is symptom onset (the model's predicted onset
    day, plus any fitted offset); `"cascade"`: day 0 is the cascade's start. Mice always
    run on age.
    """
    if align not in ("cascade", "onset"):
        raise ALSJaxError(f"align: expected 'cascade' or 'onset', got {align!r}")
    if len(df) == 0:
        raise ALSJaxError("data: no rows")
    subjects = tuple(dict.fromkeys(str(s) for s in df["subject"]))
    pos = np.arange(len(df))
    is_event = df["observable"].isin(EVENT_NAMES).to_numpy()
    groups = {s: np.flatnonzero(df["subject"].astype(str).to_numpy() == s) for s in subjects}
    n_meas = max(1, max(int((~is_event[g]).sum()) for g in groups.values()))
    n_ev = max(1, max(int(is_event[g].sum()) for g in groups.values()))
    S = len(subjects)
    f = np.float64
    times = np.zeros((S, n_meas), f)
    obs = np.zeros((S, n_meas), np.int32)
    values = np.ones((S, n_meas), f)
    sigma = np.full((S, n_meas), np.nan)
    mask = np.zeros((S, n_meas), bool)
    summary = np.zeros((S, n_meas), bool)
    lloq = np.full((S, n_meas), np.nan)
    row_index = np.full((S, n_meas), -1, np.int64)
    ev_type = np.zeros((S, n_ev), np.int32)
    ev_time = np.ones((S, n_ev), f)
    ev_obs = np.zeros((S, n_ev), bool)
    ev_mask = np.zeros((S, n_ev), bool)
    ev_row = np.full((S, n_ev), -1, np.int64)
    on, start = np.zeros((S, len(DRUGS))), np.zeros((S, len(DRUGS)))
    bases, aligned, horizon = [], np.zeros(S, bool), np.zeros(S)
    col = {c: df[c].to_numpy() for c in ("time", "observable", "value", "kind")}
    for c in ("sigma", "lloq"):
        col[c] = df[c].to_numpy(dtype=f) if c in df.columns else np.full(len(df), np.nan)
    for s, name in enumerate(subjects):
        g = groups[name]
        first = g[0]
        genotype = str(df["genotype"].iat[first]) if "genotype" in df.columns else "sporadic"
        species = str(df["species"].iat[first]) if "species" in df.columns else "human"
        bases.append(default_params(genotype or "sporadic", species or "human"))
        th = parse_therapy(str(df["therapy"].iat[first])) if "therapy" in df.columns else None
        if th is not None:
            on[s], start[s] = np.asarray(th.on), np.asarray(th.start)
        aligned[s] = align == "onset" and species != "mouse"
        horizon[s] = ONSET_HORIZON.get(species, ONSET_HORIZON["human"])
        m = g[~is_event[g]]
        m = m[np.argsort(col["time"][m].astype(f), kind="stable")]
        k = len(m)
        if k:
            times[s, :k] = col["time"][m]
            times[s, k:] = times[s, k - 1]
            obs[s, :k] = [OBSERVABLE_NAMES.index(o) for o in col["observable"][m]]
            values[s, :k] = col["value"][m]
            sigma[s, :k] = col["sigma"][m]
            lloq[s, :k] = col["lloq"][m]
            summary[s, :k] = col["kind"][m] == "summary"
            mask[s, :k] = True
            row_index[s, :k] = pos[m]
        e = g[is_event[g]]
        if len(e):
            k = len(e)
            ev_type[s, :k] = [EVENT_NAMES.index(o) for o in col["observable"][e]]
            ev_time[s, :k] = col["time"][e]
            ev_obs[s, :k] = col["value"][e] == 1
            ev_mask[s, :k] = True
            ev_row[s, :k] = pos[e]
    censored = mask & np.isfinite(lloq) & (values < np.nan_to_num(lloq, nan=-np.inf))
    base = jax.tree.map(lambda *xs: jnp.stack(xs), *bases)
    return Data(
        times=jnp.asarray(times), obs=jnp.asarray(obs), values=jnp.asarray(values),
        sigma=jnp.asarray(sigma), mask=jnp.asarray(mask), summary=jnp.asarray(summary),
        lloq=jnp.asarray(lloq), censored=jnp.asarray(censored),
        event_type=jnp.asarray(ev_type), event_time=jnp.asarray(ev_time),
        event_observed=jnp.asarray(ev_obs), event_mask=jnp.asarray(ev_mask),
        therapy=Therapy(on=jnp.asarray(on), start=jnp.asarray(start)), base=base,
        onset_aligned=jnp.asarray(aligned), onset_horizon=jnp.asarray(horizon),
        row_index=jnp.asarray(row_index), event_row_index=jnp.asarray(ev_row),
        subjects=subjects, any_onset=bool(aligned.any()), any_events=bool(ev_mask.any()),
    )


def _model_name(value, where: str) -> str:
    if not isinstance(value, str) or value not in NOISE_MODELS:
        raise ALSJaxError(f"{where}: expected 'gaussian' or 'lognormal', got {value!r}")
    return value


def noise_models(noise: NoiseSpec = None, *, where: str = "noise") -> tuple[str, ...]:
    """Each observable's noise model (order of `OBSERVABLE_NAMES`) from a `NoiseSpec`.

    The result is a hashable tuple, so it can be a static argument or a static field:
    equal specs select the same compiled program. Raises `ALSJaxError` (one line naming
    `where` and the key) on an unknown observable or model name.
    """
    if noise is None:
        return tuple(DEFAULT_NOISE_MODEL[k] for k in OBSERVABLE_NAMES)
    if isinstance(noise, str):
        return (_model_name(noise, where),) * len(OBSERVABLE_NAMES)
    if isinstance(noise, Mapping):
        models = dict(DEFAULT_NOISE_MODEL)
        for k, m in noise.items():
            if k not in OBSERVABLE_NAMES:
                close = difflib.get_close_matches(str(k), OBSERVABLE_NAMES, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ALSJaxError(f"{where}: unknown observable {k!r}{hint}; known: "
                                  f"{', '.join(OBSERVABLE_NAMES)}")
            models[k] = _model_name(m, f"{where}.{k}")
        return tuple(models[k] for k in OBSERVABLE_NAMES)
    if isinstance(noise, Sequence) and len(noise) == len(OBSERVABLE_NAMES):
        return tuple(_model_name(m, f"{where}.{k}")
                     for k, m in zip(OBSERVABLE_NAMES, noise, strict=True))
    raise ALSJaxError(f"{where}: expected a model name or a table observable -> model, "
                      f"got {noise!r}")


def default_noise_sd(noise: NoiseSpec = None) -> Array:
    """Per-observable noise SDs (order of `OBSERVABLE_NAMES`) used when none is given:
    each observable's `DEFAULT_NOISE_SD` under its own noise model."""
    models = noise_models(noise)
    return jnp.asarray([DEFAULT_NOISE_SD[m][k] for k, m in zip(OBSERVABLE_NAMES, models,
                                                                strict=True)])


def broadcast_params(params: Params, n: int) -> Params:
    """A single Params repeated for `n` subjects; batched Params pass through."""
    if jnp.ndim(params.time_scale) == 0:
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *jnp.shape(x))), params)
    return params


BATCH_MIN_SUBJECTS = 64
"""From this many subjects on, a cohort is solved by `simulate_batch`, whose trajectories
do not march in lockstep; below it the plain vmap of `simulate` compiles about three times
faster and runs as fast (benchmarks/RESULTS.md)."""


def _solve_cohort(params, ts, therapy, adjoint):
    """(S, T, K) observables, (S, n_events) event days and (S,) success of a cohort."""
    if ts.shape[0] < BATCH_MIN_SUBJECTS:
        return jax.vmap(_solve_one, in_axes=(0, 0, 0, None))(params, ts, therapy, adjoint)
    # Forward sensitivities serve both jax.grad and jax.jacfwd, whatever `adjoint` says.
    return _stacked(simulate_batch(params, ts, therapy, gradient="forward"))


def _solve_one(p, ts, therapy, adjoint):
    return _stacked(simulate(p, ts, therapy, adjoint=adjoint))


def _stacked(sol):
    """A Solution as (..., T, K) observables, (..., n_events) event days and success."""
    pred = jnp.stack([sol.observables[k] for k in OBSERVABLE_NAMES], axis=-1)
    events = jnp.stack([sol.events[k] for k in EVENT_NAMES], axis=-1)
    return pred, events, sol.success


def _predict(params: Params, data: Data, shift: Array, adjoint=None):
    """Model predictions at every data slot: (S, T+1, K) observables, (S, n_events)
    event days (model clock), (S,) success. The one place the cohort is simulated.

    Slot T (the extra last one) is a horizon that leaves room for events to happen.
    """
    model_t = data.times + shift[:, None]
    last = jnp.max(model_t, axis=1)
    if data.any_events:
        ev_last = jnp.max(jnp.where(data.event_mask, data.event_time, 0.0), axis=1) + shift
        horizon = 2.0 * jnp.maximum(last, ev_last) + 30.0
    else:
        horizon = last
    ts = jnp.concatenate([model_t, horizon[:, None]], axis=1)
    therapy = Therapy(on=data.therapy.on, start=data.therapy.start + shift[:, None])
    return _solve_cohort(params, ts, therapy, adjoint)


def _model_onset(params: Params, data: Data, adjoint=None) -> Array:
    """Each onset-aligned subject's model onset day (0 for the others, or if none)."""
    ts = jnp.stack([jnp.zeros_like(data.onset_horizon), data.onset_horizon], axis=1)
    therapy = Therapy(on=jnp.zeros_like(data.therapy.on), start=data.therapy.start)
    _, events, ok = _solve_cohort(params, ts, therapy, adjoint)
    onset = events[:, EVENT_NAMES.index("onset")]
    good = ok & jnp.isfinite(onset) & data.onset_aligned
    return jnp.where(good, onset, 0.0)


def shifts(params: Params, data: Data, time_shift=None, adjoint=None) -> Array:
    """Model day of each subject's data day 0 (see the module docstring)."""
    params = broadcast_params(params, data.n_subjects)
    offset = jnp.zeros(data.n_subjects) if time_shift is None else jnp.asarray(time_shift)
    if data.any_onset:
        # A subject whose model never has onset is placed at its horizon; the fit then
        # sees a poor (finite) match instead of a failure.
        base = _model_onset(params, data, adjoint)
        base = jnp.where(data.onset_aligned & (base == 0.0), data.onset_horizon, base)
        return jnp.maximum(base + offset, 0.0)
    return jnp.maximum(offset, 0.0)


def _safe_sqrt(x):
    ok = x > 0
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, x, 1.0)), 0.0)


def _terms(params, data, *, noise, sigma, time_shift, adjoint):
    """Residual vector r (-loglik = r.r/2 + logdet), its log-normaliser, and success."""
    models = noise_models(noise)
    params = broadcast_params(params, data.n_subjects)
    sd_k = default_noise_sd(models) if sigma is None else jnp.asarray(sigma)
    shift = shifts(params, data, time_shift, adjoint)
    pred, events, ok = _predict(params, data, shift, adjoint)
    all_ok = jnp.all(ok)
    # Double where: failed solves are NaN; replace them before any arithmetic.
    pred = jnp.where(all_ok, pred, 1.0)
    events = jnp.where(all_ok, events, 1.0)
    f = jnp.take_along_axis(pred[:, :-1, :], data.obs[..., None], axis=-1)[..., 0]
    y = data.values
    row_sd = jnp.where(jnp.isnan(data.sigma), sd_k[data.obs], data.sigma)
    r = (y - f) / row_sd
    sd = row_sd
    lim = (data.lloq - f) / row_sd
    # Rows of lognormal observables (arm summaries stay linear): a constant per-observable
    # flag indexed by each row's observable, so one program serves any data.
    is_log = np.asarray([m == "lognormal" for m in models])
    log_scale = jnp.asarray(is_log)[data.obs] & ~data.summary
    if is_log.any():
        pos = lambda v: jnp.maximum(v, 1e-12)  # noqa: E731
        sd_log = jnp.where(jnp.isnan(data.sigma), sd_k[data.obs],
                           data.sigma / pos(jnp.abs(y)))
        log_r = (jnp.log(pos(y)) - jnp.log(pos(f))) / sd_log
        r = jnp.where(log_scale, log_r, r)
        sd = jnp.where(log_scale, sd_log, sd)
        lim = jnp.where(log_scale, (jnp.log(pos(data.lloq)) - jnp.log(pos(f))) / sd_log, lim)
    cens = data.censored & data.mask
    lim = jnp.where(cens, lim, 0.0)
    r_cens = _safe_sqrt(-2.0 * log_ndtr(lim))
    meas = jnp.where(data.mask, jnp.where(cens, r_cens, r), 0.0)
    # -log density normaliser of uncensored rows: log sd + log(2 pi)/2 (+ log y if log).
    logy = jnp.where(log_scale, jnp.log(jnp.maximum(y, 1e-12)), 0.0)
    norm = jnp.where(data.mask & ~cens, jnp.log(sd) + 0.5 * math.log(2 * math.pi) + logy, 0.0)
    norm = jnp.sum(norm)
    if data.any_events:
        T = jnp.take_along_axis(events, data.event_type, axis=1)
        T = jnp.where(jnp.isfinite(T), T, jnp.maximum(2.0 * jnp.max(data.event_time
                                                                      + shift[:, None]), 1.0))
        t_obs = jnp.maximum(data.event_time + shift[:, None], 1e-6)
        z = (jnp.log(t_obs) - jnp.log(jnp.maximum(T, 1e-6))) / EVENT_SD
        ev = jnp.where(data.event_observed, z, _safe_sqrt(-2.0 * log_ndtr(-z)))
        ev = jnp.where(data.event_mask, ev, 0.0)
        norm = norm + jnp.sum(jnp.where(data.event_mask & data.event_observed,
                                        math.log(EVENT_SD) + 0.5 * math.log(2 * math.pi)
                                        + jnp.log(t_obs), 0.0))
        res = jnp.concatenate([meas.ravel(), ev.ravel()])
    else:
        res = meas.ravel()
    return res, norm, all_ok


def residuals(
    params: Params,
    data: Data,
    *,
    noise: NoiseSpec = None,
    sigma: Float[ArrayLike, " K"] | None = None,
    time_shift: Float[ArrayLike, " S"] | None = None,
    adjoint=None,
) -> Float[Array, " n"]:
    """Weighted residuals r with -log_likelihood = |r|^2 / 2 + (terms free of the model).

    Censored rows contribute sqrt(-2 log P), so the same identity holds. A failed solve
    gives a large finite residual everywhere (least-squares solvers then step back).
    Pass `adjoint=diffrax.ForwardMode()` to take the Jacobian with `jax.jacfwd`.
    """
    res, _, ok = _terms(params, data, noise=noise, sigma=sigma, time_shift=time_shift,
                        adjoint=adjoint)
    return jnp.where(ok, res, _FAILED_RESIDUAL)


def log_likelihood(
    params: Params,
    data: Data,
    *,
    noise: NoiseSpec = None,
    sigma: Float[ArrayLike, " K"] | None = None,
    time_shift: Float[ArrayLike, " S"] | None = None,
    adjoint=None,
) -> Float[Array, ""]:
    """Log-likelihood of `data` under `params` (see the module docstring for the terms).

    **Arguments:**
    - `params`: one Params for every subject, or Params batched over subjects (S,).
      When the data mix genotypes, pass `data.base` with changes (`fit` does).
    - `data`: from `make_data`.
    - `noise`: each observable's noise model: None (`DEFAULT_NOISE_MODEL`: NfL
      log-normal, the rest Gaussian), "gaussian" or "lognormal" for all, or a mapping
      such as `{"nfl": "lognormal"}` (observables not named keep their default). It
      selects the program, like a static argument; `noise_models` gives its hashable form.
    - `sigma`: noise SD per observable (order of `OBSERVABLE_NAMES`): an SD for Gaussian
      observables, a CV (SD of the log) for log-normal ones; default `default_noise_sd`.
      Rows with their own `sigma` use it instead.
    - `time_shift`: per-subject offset (days) added to each subject's alignment.

    Pure and jittable; `-inf` (zero gradient) when any solve fails.
    """
    res, norm, ok = _terms(params, data, noise=noise, sigma=sigma, time_shift=time_shift,
                           adjoint=adjoint)
    ll = -0.5 * jnp.sum(res**2) - norm
    return jnp.where(ok & jnp.isfinite(ll), ll, -jnp.inf)


def predictions(params: Params, data: Data, *, time_shift=None) -> tuple[Array, Array, Array]:
    """Predicted value at every measurement slot (S, T), event day on the data clock at
    every event slot (S, E), and each subject's shift (S,)."""
    params = broadcast_params(params, data.n_subjects)
    shift = shifts(params, data, time_shift)
    pred, events, _ = _predict(params, data, shift)
    f = jnp.take_along_axis(pred[:, :-1, :], data.obs[..., None], axis=-1)[..., 0]
    T = jnp.take_along_axis(events, data.event_type, axis=1) - shift[:, None]
    return f, T, shift
