"""Read a user's own Answer ALS clinical download into the tidy measurement frame.

Answer ALS shares its clinical data under a data use agreement (its data portal), so
alsjax ships none: this module maps the clinical tables a registered user downloads onto
the tidy columns that `write_measurements` writes and `read_measurements` reads. The
layout (file and column names, and every date given as a whole number of days relative to
the participant's screening visit) is the one the Answer ALS data team's own OMOP
conversion reads (`data/published/README.md`, *Bringing your own Answer ALS download*).
Tables are read as `_downloads` reads any restricted download: names matched
case-insensitively, every problem one line naming the file, row and column.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ._downloads import classify, download_paths, first_per_subject, numbers, read_table
from ._errors import ALSJaxError
from ._therapy import format_therapy

ALIGNS: tuple[str, ...] = ("screening", "onset")
"""`screening`: day 0 = the screening visit (the download's own day numbers);
`onset`: day 0 = symptom onset (each day minus the participant's `onsetdt`)."""

_KINDS: dict[str, tuple[str, ...]] = {
    # kind: file-name fragments that identify it (lower case, first match wins); the
    # portal's raw names (`v_NB_IATI_ALSFRS_R.csv`) contain them too
    "ALSFRS-R": ("alsfrs_r",),
    "ALS history": ("aalshxfx",),
    "mortality": ("mortality",),
    "subjects": ("subjects",),
    "gene mutations": ("gene_mutations",),
    "medications": ("medications_log",),
}
_COLUMNS: dict[str, tuple[str, ...]] = {
    "ALSFRS-R": ("participant_id",),
    "ALS history": ("participant_id", "onsetdt"),
    "mortality": ("participant_id", "dieddt"),
    "subjects": ("participant_id", "subject_group_id"),
    "gene mutations": ("participant_id", "sod1", "c9orf72", "tdp43", "fus"),
    "medications": ("participant_id", "med", "medstdt"),
}
_DAY_COLUMNS = ("alsfrsdt", "visit_date")  # the assessment's own day first
_ITEMS = ("alsfrs1", "alsfrs2", "alsfrs3", "alsfrs4", "alsfrs5", "alsfrs6", "alsfrs7",
          "alsfrs8", "alsfrs9", "alsfrsr1", "alsfrsr2", "alsfrsr3")
"""The twelve ALSFRS-R items; item 5 is `alsfrs5a` (no gastrostomy) or `alsfrs5b`."""
_ALS_GROUP = 1.0  # `subject_group_id` of people with ALS (17: other motor neuron disease)
_GENES = {"sod1": "SOD1", "c9orf72": "C9orf72", "tdp43": "TARDBP", "fus": "FUS"}
"""Gene-table column -> the model's genotype; a cell of 1 is a positive result (2:
negative; other codes: no result)."""
_POSITIVE = 1.0
_DRUG_NAMES = {"riluzole": ("riluzole", "rilutek", "tiglutik", "exservan"),
               "edaravone": ("edaravone", "radicava"), "tofersen": ("tofersen", "qalsody")}
"""The model's drug -> words that name it in the log's free-text `med` (generic and brand
names, case-insensitive)."""


def _table(path: Path, kind: str) -> pd.DataFrame:
    return read_table(path, kind, _COLUMNS[kind], "participant_id")


def _in_range(values: pd.Series, df: pd.DataFrame, col: str, path: Path, hi: float) -> None:
    bad = values.notna() & ((values < 0) | (values > hi) | (values != values.round()))
    if bad.any():
        i = bad.to_numpy().argmax()
        raise ALSJaxError(f"{path}, row {int(df['row'].iat[i])}, column {col!r}: "
                          f"{values.iat[i]:g} is not a whole score from 0 to {hi:g}")


def _alsfrs_visits(path: Path, dropped: dict[str, int]) -> pd.DataFrame:
    """One `alsfrs_r` row per assessment: the total `alsfrst`, or where it is empty the sum
    of the twelve items when all are given. Assessments without a day or a score are
    dropped and counted."""
    frs = _table(path, "ALSFRS-R")
    day_cols = [c for c in _DAY_COLUMNS if c in frs.columns]
    if not day_cols:
        raise ALSJaxError(f"{path}: missing column 'alsfrsdt' (or 'visit_date') in the "
                          f"ALSFRS-R table (found: {', '.join(frs.columns)})")
    day = pd.Series(math.nan, index=frs.index)
    for c in day_cols:
        day = day.fillna(numbers(frs, c, path, required=False))
    item_5 = [c for c in ("alsfrs5a", "alsfrs5b") if c in frs.columns]
    has_items = bool(item_5) and all(c in frs.columns for c in _ITEMS if c != "alsfrs5")
    if "alsfrst" not in frs.columns and not has_items:
        raise ALSJaxError(f"{path}: missing column 'alsfrst' (or the twelve items "
                          f"alsfrs1-alsfrsr3) in the ALSFRS-R table (found: "
                          f"{', '.join(frs.columns)})")
    total = (numbers(frs, "alsfrst", path, required=False) if "alsfrst" in frs.columns
             else pd.Series(math.nan, index=frs.index))
    _in_range(total, frs, "alsfrst", path, 48)
    if has_items:
        score = {}
        for c in [c for c in _ITEMS if c != "alsfrs5"] + item_5:
            score[c] = numbers(frs, c, path, required=False)
            _in_range(score[c], frs, c, path, 4)
        # Item 5 is 5a without a gastrostomy and 5b with one: whichever is given.
        score["alsfrs5"] = score[item_5[0]].fillna(score[item_5[-1]])
        items = pd.concat([score[c] for c in _ITEMS], axis=1)
        total = total.fillna(items.sum(axis=1, min_count=len(_ITEMS)))
    keep = day.notna() & total.notna()
    dropped["visits_without_day"] = int((total.notna() & day.isna()).sum())
    dropped["visits_without_alsfrs_r"] = int(total.isna().sum())
    return pd.DataFrame({"subject": frs["participant_id"][keep], "time": day[keep],
                         "observable": "alsfrs_r", "value": total[keep]})


def _deaths(path: Path, last_visit: pd.Series, dropped: dict[str, int]
            ) -> tuple[dict[str, float], set[str]]:
    """participant -> day of death, and the participants with a death record but no day
    (counted: they get no death row, neither a day nor a censoring)."""
    mort = _table(path, "mortality")
    day = numbers(mort, "dieddt", path, required=False)
    deaths: dict[str, float] = {}
    unknown: set[str] = set()
    for r, subject, d in zip(mort["row"], mort["participant_id"], day, strict=True):
        if math.isnan(d):
            unknown.add(subject)
            continue
        if subject in deaths and deaths[subject] != d:
            raise ALSJaxError(f"{path}, row {r}, column 'dieddt': participant {subject!r} "
                              f"has a second day of death ({d:g}, first {deaths[subject]:g})")
        if subject in last_visit.index and d < last_visit[subject]:
            raise ALSJaxError(f"{path}, row {r}, column 'dieddt': participant {subject!r} "
                              f"died on day {d:g}, before their last ALSFRS-R assessment "
                              f"(day {last_visit[subject]:g})")
        deaths[subject] = d
    unknown -= set(deaths)
    dropped["deaths_without_day"] = len(unknown)
    return deaths, unknown


def _genotypes(path: Path, dropped: dict[str, int]) -> tuple[dict[str, str], set[str]]:
    """participant -> genotype for those with one positive result among the model's four
    genes (over all their rows), and the participants with more than one (the model
    has one genotype per subject: they are dropped and counted)."""
    genes = _table(path, "gene mutations")
    positive: dict[str, set[str]] = {}
    for col, genotype in _GENES.items():
        hit = numbers(genes, col, path, required=False) == _POSITIVE
        for subject in genes["participant_id"][hit]:
            positive.setdefault(subject, set()).add(genotype)
    two = {s for s, g in positive.items() if len(g) > 1}
    dropped["subjects_with_two_genotypes"] = len(two)
    return {s: g.pop() for s, g in positive.items() if s not in two}, two


def _drug_starts(path: Path) -> dict[str, dict[str, float]]:
    """participant -> {drug: first start day (`medstdt`; 0 where none is given)} for the
    logged medications that name one of the model's drugs."""
    meds = _table(path, "medications")
    start = numbers(meds, "medstdt", path, required=False).fillna(0.0)
    name = meds["med"].str.lower()
    out: dict[str, dict[str, float]] = {}
    for drug, words in _DRUG_NAMES.items():
        hit = name.str.contains("|".join(map(re.escape, words)))
        first = start[hit].groupby(meds["participant_id"][hit]).min()
        for subject, day in first.items():
            out.setdefault(subject, {})[drug] = float(day)
    return out


def read_answer_als(
    folder_or_files: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    align: str = "screening",
) -> pd.DataFrame:
    """Map an Answer ALS clinical download to the tidy frame (`subject, time, observable,
    value, genotype, species, therapy`), ready for `write_measurements` and
    `read_measurements`.

    `folder_or_files`: the download folder, or its CSV files. Tables are recognised by file
    name (case-insensitive): `*ALSFRS_R*` (required: `Participant_ID`, the day `alsfrsdt`
    or else `Visit_Date`, and the total `alsfrst` or the twelve items `alsfrs1`-`alsfrs4`,
    `alsfrs5a`/`alsfrs5b`, `alsfrs6`-`alsfrs9`, `alsfrsr1`-`alsfrsr3`), `*AALSHXFX*` (the ALS
    history: `Participant_ID`, `onsetdt`; needed for `align="onset"`), `*Mortality*`
    (`Participant_ID`, `dieddt`), `*subjects*` (`Participant_ID`, `subject_group_id`),
    `*ALS_Gene_Mutations*` (`Participant_ID`, `sod1`, `c9orf72`, `tdp43`, `fus`) and
    `*Medications_Log*` (`Participant_ID`, `med`, `medstdt`).

    Rows: one `alsfrs_r` row per assessment with a total (given, or the sum of all twelve
    items); with the mortality table, one `death` event per participant: value 1 on
    `dieddt`, else value 0 on the last ALSFRS-R assessment (alive then). With the subjects
    table only people with ALS (`subject_group_id` 1) are kept. With the gene table, a
    participant with one positive result (1) among SOD1, C9orf72, TDP-43 (`TARDBP`) and
    FUS gets that genotype, one with two is dropped, everyone else is `sporadic` (the
    results are self-reported). With the medications log, `therapy` starts riluzole,
    edaravone and tofersen (named generically or by brand in `med`) on the first logged
    `medstdt` (0 where none is given; a start before day 0 is day 0); stops are not
    modelled.

    `align="screening"`: day 0 = the screening visit (the download's day numbers);
    assessments before it are dropped. `align="onset"`: day 0 = symptom onset;
    participants without an onset are dropped. What is dropped is counted in
    `frame.attrs["dropped"]`.
    """
    if align not in ALIGNS:
        raise ALSJaxError(f"read_answer_als: align must be one of {', '.join(ALIGNS)}, got "
                          f"{align!r}")
    tables = classify(download_paths(folder_or_files), _KINDS)
    if "ALSFRS-R" not in tables:
        raise ALSJaxError("read_answer_als: no ALSFRS-R table (a file named like "
                          f"'*ALSFRS_R*.csv') in {folder_or_files}")
    dropped = {"visits_without_alsfrs_r": 0, "visits_without_day": 0, "subjects_not_als": 0,
               "subjects_with_two_genotypes": 0, "subjects_without_onset": 0,
               "visits_before_day_0": 0, "deaths_without_day": 0}
    visits = _alsfrs_visits(tables["ALSFRS-R"], dropped)
    genotype: dict[str, str] = {}
    two: set[str] = set()  # two positive genes: left out
    als: set[str] | None = None  # with the subjects table: the people with ALS
    if "gene mutations" in tables:
        genotype, two = _genotypes(tables["gene mutations"], dropped)
    if "subjects" in tables:
        path = tables["subjects"]
        groups = _table(path, "subjects")
        group = numbers(groups, "subject_group_id", path, required=False)
        als = set(groups["participant_id"][group == _ALS_GROUP])
        dropped["subjects_not_als"] = int((~visits["subject"].drop_duplicates().isin(als)).sum())

    def kept(subject: str) -> bool:  # whatever rows the participant has
        return subject not in two and (als is None or subject in als)

    visits = visits[visits["subject"].map(kept)]
    events = pd.DataFrame(columns=visits.columns)
    if "mortality" in tables:
        last_visit = visits.groupby("subject")["time"].max()
        deaths, unknown = _deaths(tables["mortality"], last_visit, dropped)
        rows = [(s, d, 1.0) for s, d in deaths.items() if kept(s)]
        rows += [(s, t, 0.0) for s, t in last_visit.items()
                 if s not in deaths and s not in unknown]
        events = pd.DataFrame([{"subject": s, "time": t, "observable": "death", "value": v}
                               for s, t, v in rows], columns=visits.columns)
    tidy = pd.concat([visits, events], ignore_index=True)

    onset = pd.Series(dtype=float)  # participant -> onset day; none: day 0 is screening
    if align == "onset":
        if "ALS history" not in tables:
            raise ALSJaxError("read_answer_als: align='onset' needs the ALS history table (a "
                              "file named like '*AALSHXFX*.csv' with 'onsetdt')")
        path = tables["ALS history"]
        onset = first_per_subject(_table(path, "ALS history"), "onsetdt", "participant_id",
                                  path)
        subjects = pd.Index(tidy["subject"].unique())
        dropped["subjects_without_onset"] = int((~subjects.isin(onset.index)).sum())
        tidy = tidy[tidy["subject"].isin(onset.index)].copy()
        tidy["time"] = tidy["time"] - tidy["subject"].map(onset)

    early = (tidy["time"] < 0) & (tidy["observable"] == "alsfrs_r")
    dropped["visits_before_day_0"] = int(early.sum())
    tidy = tidy[~early].copy()
    drugs = _drug_starts(tables["medications"]) if "medications" in tables else {}
    therapy = {s: format_therapy({d: max(day - onset.get(s, 0.0), 0.0)
                                  for d, day in drugs.get(s, {}).items()})
               for s in tidy["subject"].unique()}  # once per participant, not per row
    tidy["genotype"] = tidy["subject"].map(lambda s: genotype.get(s, "sporadic"))
    tidy["species"] = "human"
    tidy["therapy"] = tidy["subject"].map(therapy)
    tidy = tidy.sort_values(["subject", "observable", "time"], kind="stable")
    tidy = tidy.reset_index(drop=True)
    tidy.attrs["dropped"] = dropped
    return tidy
