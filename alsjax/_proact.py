"""Read a user's own PRO-ACT download into the tidy measurement frame.

PRO-ACT rows may not be redistributed, so alsjax ships none: this module maps the tables a
registered user downloads (ALSFRS, death, riluzole, forced vital capacity and, for onset
alignment, ALS history) onto the tidy columns that `write_measurements` writes and
`read_measurements` reads.
Column names follow `data/published/README.md`; tables are read as `_downloads` reads any
restricted download (names matched case-insensitively, one-line errors naming file, row and
column).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ._downloads import classify, download_paths, first_per_subject, numbers, read_table
from ._errors import ALSJaxError
from ._observables import OBSERVABLE_RANGES

ALIGNS: tuple[str, ...] = ("trial", "onset")
"""`trial`: day 0 = trial start (`ALSFRS_Delta` as is); `onset`: day 0 = symptom onset."""

_KINDS: dict[str, tuple[str, ...]] = {
    # kind: file-name fragments that identify it (lower case, first match wins)
    "history": ("alshistory", "als_history", "history"),
    "riluzole": ("riluzole",),
    "death": ("death",),
    "alsfrs": ("alsfrs",),
    "fvc": ("fvc",),  # not the slow vital capacity table (`*svc*`): a different manoeuvre
}
_COLUMNS: dict[str, tuple[str, ...]] = {
    "alsfrs": ("subject_id", "alsfrs_delta", "alsfrs_r_total"),
    "death": ("subject_id", "subject_died"),
    "riluzole": ("subject_id", "subject_used_riluzole"),
    "history": ("subject_id", "onset_delta"),
    "fvc": ("subject_id", "forced_vital_capacity_delta"),
}
_FVC_TRIALS = 3  # spirometry repeats the manoeuvre; a visit's value is the best trial
_YES, _NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0"}


def _read_table(path: Path, kind: str) -> pd.DataFrame:
    return read_table(path, kind, _COLUMNS[kind], "subject_id")


def _yes_no(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    out = []
    for r, s in zip(df["row"], df[col], strict=True):
        low = s.lower()
        if low not in _YES | _NO:
            raise ALSJaxError(f"{path}, row {r}, column {col!r}: expected Yes or No, got {s!r}")
        out.append(low in _YES)
    return pd.Series(out, index=df.index, dtype=bool)


def _fvc_visits(path: Path) -> tuple[pd.DataFrame, int]:
    """The FVC table as tidy `fvc` rows (% of predicted) and the count of visits without a
    value. A visit's value is its best trial's `pct_of_Normal_Trial_<i>`; where none is
    given, its best `Subject_Liters_Trial_<i>` over `Subject_Normal` (the predicted
    litres), x 100."""
    fvc = _read_table(path, "fvc")
    day = numbers(fvc, "forced_vital_capacity_delta", path, required=True)
    best = pd.Series(math.nan, index=fvc.index)
    for kind in ("pct_of_normal_trial", "subject_liters_trial"):
        cols = [f"{kind}_{i}" for i in range(1, _FVC_TRIALS + 1) if f"{kind}_{i}" in fvc]
        if not cols or (kind == "subject_liters_trial" and "subject_normal" not in fvc):
            continue
        trials = pd.concat([numbers(fvc, c, path, required=False) for c in cols], axis=1)
        value = trials.max(axis=1)
        if kind == "subject_liters_trial":
            value = 100.0 * value / numbers(fvc, "subject_normal", path, required=False)
        best = best.fillna(value)
    pct = OBSERVABLE_RANGES["fvc"]
    bad = best.notna() & ~best.apply(pct.allows)
    if bad.any():
        i = bad.to_numpy().argmax()
        raise ALSJaxError(f"{path}, row {int(fvc['row'].iat[i])}: FVC {best.iat[i]:g} % of "
                          f"predicted is outside {pct} ({pct.why})")
    ok = best.notna()
    rows = pd.DataFrame({"subject": fvc["subject_id"][ok], "time": day[ok],
                         "observable": "fvc", "value": best[ok]})
    return rows, int((~ok).sum())


def read_proact(
    folder_or_files: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    align: str = "trial",
) -> pd.DataFrame:
    """Map a PRO-ACT download to the tidy frame (`subject, time, observable, value, genotype,
    species, therapy`), ready for `write_measurements` and `read_measurements`.

    `folder_or_files`: the download folder, or its CSV files. Tables are recognised by file
    name (case-insensitive): `*alsfrs*` (required: `subject_id`, `ALSFRS_Delta`,
    `ALSFRS_R_Total`), `*death*` (`subject_id`, `Subject_Died`, `Death_Days`), `*riluzole*`
    (`subject_id`, `Subject_used_Riluzole`, optional `Riluzole_use_Delta`), `*fvc*`
    (`subject_id`, `Forced_Vital_Capacity_Delta`, and `pct_of_Normal_Trial_1..3` or
    `Subject_Liters_Trial_1..3` with `Subject_Normal`) and `*history*` (`subject_id`,
    `Onset_Delta`; needed for `align="onset"`).

    Rows: one `alsfrs_r` row per visit with a revised total (visits with only the original
    ALSFRS total are dropped); one `fvc` row (% of predicted, the best of the visit's
    trials) per FVC visit with a value; one `death` event per subject in the death table,
    value 1 at `Death_Days`, else value 0 at the subject's last ALSFRS-R visit; `therapy`
    `riluzole:<day>` for riluzole users (the table's start day if given and later than day
    0, else 0).

    `align="trial"`: day 0 = trial start; visits before it are dropped. `align="onset"`:
    day 0 = symptom onset (each day minus the subject's `Onset_Delta`); subjects without an
    onset are dropped. Dropped visits and subjects are counted in `frame.attrs["dropped"]`.
    """
    if align not in ALIGNS:
        raise ALSJaxError(f"read_proact: align must be one of {', '.join(ALIGNS)}, got "
                          f"{align!r}")
    tables = classify(download_paths(folder_or_files), _KINDS)
    if "alsfrs" not in tables:
        raise ALSJaxError(f"read_proact: no ALSFRS table (a file named like '*alsfrs*.csv') "
                          f"in {folder_or_files}")
    dropped = {"visits_without_alsfrs_r": 0, "visits_without_fvc": 0,
               "visits_before_day_0": 0, "subjects_without_onset": 0}

    path = tables["alsfrs"]
    frs = _read_table(path, "alsfrs")
    has_total = frs["alsfrs_r_total"] != ""
    dropped["visits_without_alsfrs_r"] = int((~has_total).sum())
    frs = frs[has_total]
    day = numbers(frs, "alsfrs_delta", path, required=True)
    score = numbers(frs, "alsfrs_r_total", path, required=True)
    bad = (score < 0) | (score > 48)
    if bad.any():
        i = bad.to_numpy().argmax()
        raise ALSJaxError(f"{path}, row {int(frs['row'].iat[i])}, column 'alsfrs_r_total': "
                          f"{score.iat[i]:g} is outside the ALSFRS-R range 0-48")
    visits = pd.DataFrame({"subject": frs["subject_id"], "time": day,
                           "observable": "alsfrs_r", "value": score})

    events = []
    if "death" in tables:
        dpath = tables["death"]
        death = _read_table(dpath, "death")
        dup = death["subject_id"].duplicated()
        if dup.any():
            raise ALSJaxError(f"{dpath}, row {int(death['row'][dup].iat[0])}, column "
                              f"'subject_id': subject {death['subject_id'][dup].iat[0]!r} "
                              "appears twice in the death table")
        died = _yes_no(death, "subject_died", dpath)
        days = (numbers(death, "death_days", dpath, required=False)
                if "death_days" in death.columns else pd.Series(math.nan, index=death.index))
        last_visit = visits.groupby("subject")["time"].max()
        for r, subject, d, t in zip(death["row"], death["subject_id"], died, days,
                                    strict=True):
            if d and math.isnan(t):
                raise ALSJaxError(f"{dpath}, row {r}, column 'death_days': empty for a subject "
                                  "who died; the day of death is required")
            if not d and subject not in last_visit.index:
                continue  # censored with no visit: nothing known after day 0
            events.append({"subject": subject, "time": t if d else last_visit[subject],
                           "observable": "death", "value": 1.0 if d else 0.0})
    fvc = []
    if "fvc" in tables:
        rows, dropped["visits_without_fvc"] = _fvc_visits(tables["fvc"])
        fvc.append(rows)
    tidy = pd.concat([visits, *fvc, pd.DataFrame(events, columns=visits.columns)],
                     ignore_index=True)

    shift = pd.Series(0.0, index=pd.Index(tidy["subject"].unique()))
    if align == "onset":
        if "history" not in tables:
            raise ALSJaxError("read_proact: align='onset' needs the ALS history table (a file "
                              "named like '*history*.csv' with 'Onset_Delta')")
        hpath = tables["history"]
        onset = first_per_subject(_read_table(hpath, "history"), "onset_delta", "subject_id",
                                  hpath)
        known = shift.index.isin(onset.index)
        dropped["subjects_without_onset"] = int((~known).sum())
        shift = -onset.reindex(shift.index[known])

    tidy = tidy[tidy["subject"].isin(shift.index)].copy()
    tidy["time"] = tidy["time"] + tidy["subject"].map(shift)
    early = tidy["time"] < 0
    visit = tidy["observable"].isin(["alsfrs_r", "fvc"])
    dropped["visits_before_day_0"] = int((early & visit).sum())
    tidy = tidy[~early]

    therapy = pd.Series("", index=tidy.index, dtype=object)
    if "riluzole" in tables:
        rpath = tables["riluzole"]
        ril = _read_table(rpath, "riluzole")
        used = _yes_no(ril, "subject_used_riluzole", rpath)
        start = (numbers(ril, "riluzole_use_delta", rpath, required=False)
                 if "riluzole_use_delta" in ril.columns else pd.Series(math.nan, ril.index))
        day0 = {}
        for subject, u, s in zip(ril["subject_id"], used, start, strict=True):
            if u and subject in shift.index:
                d = (0.0 if math.isnan(s) else s) + shift[subject]
                day0[subject] = max(d, 0.0)
        therapy = tidy["subject"].map(lambda s: f"riluzole:{day0[s]:g}" if s in day0 else "")
    tidy["genotype"], tidy["species"], tidy["therapy"] = "sporadic", "human", therapy
    tidy = tidy.sort_values(["subject", "observable", "time"], kind="stable")
    tidy = tidy.reset_index(drop=True)
    tidy.attrs["dropped"] = dropped
    return tidy
