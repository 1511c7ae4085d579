"""A dataset as padded arrays: `make_data` turns the reader's frame into a `Data`.

One row per subject, padded to the longest subject, so a cohort is one batched solve and
one compilation whatever its subjects' visit counts. Each subject carries its own preset
(genotype, species), therapy and alignment (cascade start or symptom onset).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import numpy as np
import pandas as pd
from jaxtyping import Array, Bool, Float, Int

from ._errors import ALSJaxError
from ._model import default_params
from ._observables import EVENT_NAMES, OBSERVABLE_NAMES
from ._params import Params
from ._presets import LATEST_PRESET, check_preset_version
from ._programs import to_device
from ._therapy import Therapy, stack_therapies, therapy_days

ALIGNMENTS: tuple[str, ...] = ("cascade", "onset")

ONSET_HORIZON: dict[str, float] = {"human": 20 * 365.25, "mouse": 365.0}
"""How far (days from the cascade's start) to look for the model's onset when aligning a
subject, a course or a draw on it. The presets' onsets fall at 1.1-1.8 years (human) and
the population prior's draws' at a median of 1.9 years, 99th percentile 12 years (0.4 %
later than 20). A longer search costs steps spent long after death: to 100 years the
preset's search took 1,968 steps against 340 to 20, and a fifth of the prior's draws ran
out of steps there (benchmarks/RESULTS.md, 2026-12-06)."""


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
    event_sigma: Float[Array, "S E"]  # SD of log event time; NaN where the row gives none
    # Arm summaries of an event (a survival curve's points): of the `event_at_risk`
    # subjects still event-free at day `event_since` (the arm's previous point, or 0),
    # `event_count` had the event by `event_time`.
    event_summary: Bool[Array, "S E"]
    event_since: Float[Array, "S E"]
    event_at_risk: Float[Array, "S E"]
    event_count: Float[Array, "S E"]
    therapy: Therapy  # batched (S, drugs), starts on the data clock
    base: Params  # batched (S,): each subject's genotype/species preset
    onset_aligned: Bool[Array, " S"]
    onset_horizon: Float[Array, " S"]
    row_index: Int[Array, "S T"]  # position in the source DataFrame, -1 for padding
    event_row_index: Int[Array, "S E"]
    subjects: tuple[str, ...] = eqx.field(static=True)
    any_onset: bool = eqx.field(static=True)
    any_events: bool = eqx.field(static=True)
    preset_version: str = eqx.field(static=True, default=LATEST_PRESET)  # of `base`

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def align(self) -> str:
        """Day 0 of the times, as summary files record it: "onset" if any subject's
        times count from symptom onset, else "cascade" (the cascade's start)."""
        return "onset" if self.any_onset else "cascade"


def unlabelled(data: Data, subjects: tuple[str, ...]) -> Data:
    """`data` under placeholder `subjects` and the newest preset version: labels no
    computation reads (the presets' values are in `base`), which as static fields would
    make a cohort of the same shapes under other names or made under another preset
    version compile every program again (and key its persistent-cache entries apart)."""
    return dataclasses.replace(data, subjects=subjects, preset_version=LATEST_PRESET)


def make_data(df, *, align: str = "cascade", preset_version: str = LATEST_PRESET) -> Data:
    """Padded arrays from the canonical frame that `read_measurements` returns.

    `align="onset"`: human subjects' day 0 is symptom onset (the model's predicted onset
    day, plus any fitted offset); `"cascade"`: day 0 is the cascade's start. Mice always
    run on age. `preset_version`: which version of the presets (`PRESET_VERSIONS`) gives
    each subject's parameters not estimated (`Data.base`).
    """
    if align not in ALIGNMENTS:
        raise ALSJaxError(f"align: expected 'cascade' or 'onset', got {align!r}")
    check_preset_version(preset_version)
    if len(df) == 0:
        raise ALSJaxError("data: no rows")
    codes, names = pd.factorize(df["subject"].astype(str).to_numpy())  # in file order
    subjects = tuple(str(s) for s in names)
    pos = np.arange(len(df))
    is_event = df["observable"].isin(EVENT_NAMES).to_numpy()
    by_subject = np.argsort(codes, kind="stable")  # each subject's rows in file order
    ends = np.searchsorted(codes[by_subject], np.arange(len(subjects) + 1))
    groups = {s: by_subject[ends[i]:ends[i + 1]] for i, s in enumerate(subjects)}
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
    ev_sigma = np.full((S, n_ev), np.nan)
    ev_summary = np.zeros((S, n_ev), bool)
    ev_since = np.zeros((S, n_ev), f)
    ev_at_risk = np.zeros((S, n_ev), f)
    ev_count = np.zeros((S, n_ev), f)
    drugs: list[dict[str, float]] = []
    aligned, horizon = np.zeros(S, bool), np.zeros(S)
    presets: dict[tuple[str, str], int] = {}  # (genotype, species) -> row of `preset_rows`
    preset_rows, preset_of = [], np.zeros(S, np.int64)  # one preset per pair, not subject
    col = {c: df[c].to_numpy() for c in ("time", "observable", "value", "kind")}
    for c in ("sigma", "lloq", "n"):
        col[c] = df[c].to_numpy(dtype=f) if c in df.columns else np.full(len(df), np.nan)
    for s, name in enumerate(subjects):
        g = groups[name]
        first = g[0]
        genotype = str(df["genotype"].iat[first]) if "genotype" in df.columns else "sporadic"
        species = str(df["species"].iat[first]) if "species" in df.columns else "human"
        pair = (genotype or "sporadic", species or "human")
        if pair not in presets:
            presets[pair] = len(preset_rows)
            preset_rows.append(default_params(*pair, preset_version=preset_version))
        preset_of[s] = presets[pair]
        drugs.append(therapy_days(str(df["therapy"].iat[first]))
                     if "therapy" in df.columns else {})
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
            ev_sigma[s, :k] = col["sigma"][e]
            ev_summary[s, :k] = col["kind"][e] == "event_summary"
            _curve_steps(col, e, ev_summary[s, :k], ev_since[s], ev_at_risk[s], ev_count[s])
    censored = mask & np.isfinite(lloq) & (values < np.nan_to_num(lloq, nan=-np.inf))
    base = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs])[preset_of],
                        *preset_rows)
    put = to_device
    return Data(
        times=put(times), obs=put(obs), values=put(values), sigma=put(sigma),
        mask=put(mask), summary=put(summary), lloq=put(lloq), censored=put(censored),
        event_type=put(ev_type), event_time=put(ev_time), event_observed=put(ev_obs),
        event_mask=put(ev_mask), event_sigma=put(ev_sigma), event_summary=put(ev_summary),
        event_since=put(ev_since), event_at_risk=put(ev_at_risk), event_count=put(ev_count),
        therapy=stack_therapies(drugs), base=jax.tree.map(put, base),
        onset_aligned=put(aligned), onset_horizon=put(horizon), row_index=put(row_index),
        event_row_index=put(ev_row), subjects=subjects, any_onset=bool(aligned.any()),
        any_events=bool(ev_mask.any()), preset_version=preset_version,
    )


def _curve_steps(col: dict, rows: np.ndarray, summary: np.ndarray, since: np.ndarray,
                 at_risk: np.ndarray, count: np.ndarray) -> None:
    """Fill one subject's event-slot arrays for its arm summaries: each point of an arm's
    curve becomes the step from the previous point (a binomial: of those still event-free
    then, how many had the event since), so the points' likelihoods multiply."""
    obs = col["observable"][rows]
    for name in dict.fromkeys(obs[summary]):
        slots = np.flatnonzero(summary & (obs == name))
        slots = slots[np.argsort(col["time"][rows[slots]].astype(float), kind="stable")]
        t_prev, f_prev = 0.0, 0.0
        for j in slots:
            r = rows[j]
            t, frac, n = float(col["time"][r]), float(col["value"][r]), float(col["n"][r])
            since[j], at_risk[j], count[j] = t_prev, n * (1.0 - f_prev), n * (frac - f_prev)
            t_prev, f_prev = t, frac
