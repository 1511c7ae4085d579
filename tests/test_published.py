"""The published tables: each parses, has its citation, and agrees with its `.md`.

The key numbers below are checked twice: computed from the CSV and found as text in the
sibling `.md` (where the source's number is quoted), so a typo in either is caught.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import pandas as pd
import pytest

from alsjax import read_measurements

FOLDER = Path(__file__).resolve().parent.parent / "data" / "published"
CSVS = sorted(FOLDER.glob("*.csv"))
DOI = re.compile(r"10\.\d{4,9}/\S+")


def _alive_at(df: pd.DataFrame, arm: str, day: float) -> int:
    """Patients of `arm` (over its rows, e.g. by onset site) alive at `day`, from the arm
    summaries of death there: n x (1 - the fraction dead), a whole number."""
    rows = df[(df["arm"] == arm) & (df["time"] == day) & (df["observable"] == "death")]
    alive = rows["n"] * (1.0 - rows["value"])
    assert ((alive - alive.round()).abs() < 1e-6).all(), "counts must come back whole"
    return int(alive.round().sum())


def _patients(df: pd.DataFrame) -> int:
    return int(df["n"].sum())


def _at(df: pd.DataFrame, subject: str, day: float) -> float:
    return float(df.loc[(df["subject"] == subject) & (df["time"] == day), "value"].iat[0])


@functools.cache
def _nfl_spread():
    """fit/published/nfl_spread.py, loaded once: its pooling of subgroup quartiles is the
    one definition."""
    spec = importlib.util.spec_from_file_location(
        "nfl_spread", FOLDER.parent.parent / "fit/published/nfl_spread.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pooled_log_sd(df: pd.DataFrame, grouping: str) -> float:
    return _nfl_spread().pooled_log_sd(df, grouping)


# file -> [(number computed from the CSV, text the .md must contain, expected number)]
KEY_NUMBERS = {
    "alchalabi2020_edaravone_alsfrs.csv": lambda d: [
        (_at(d, "placebo", 252), "34.8 (5.8)", 34.8),
        (_at(d, "edaravone", 252), "37.8 (4.9)", 37.8),
        (_at(d, "placebo", 84), "41.8 (2.2)", 41.8),
        (_at(d, "edaravone", 0), "43.6 (2.2)", 43.6),
    ],
    "paganoni2020_centaur_placebo_alsfrs.csv": lambda d: [
        (_at(d, "placebo", 0), "36.7 ± 5.1", 36.7),
        (_at(d, "placebo", 168), "| 168 | 27.54 |", 27.54),
    ],
    "bensimon1994_riluzole_survival.csv": lambda d: [
        (_alive_at(d, "placebo", 365), "45 of 78", 45),
        (_alive_at(d, "riluzole", 365), "57 of 77", 57),
        (float(d.loc[d["arm"] == "placebo", "n"].sum()), "45 of 78", 78),
    ],
    "lacomblez1996_riluzole_survival.csv": lambda d: [
        (_alive_at(d, "placebo", 548), "122 (50.4%)", 122),
        (_alive_at(d, "riluzole_100mg", 548), "134 (56.8%)", 134),
        (_alive_at(d, "riluzole_50mg", 548), "131 (55.3%)", 131),
        (_alive_at(d, "riluzole_200mg", 548), "141 (57.8%)", 141),
        (float(_patients(d)), "959", 959),
    ],
    "wolf2014_registry_survival.csv": lambda d: [
        (float(_patients(d) - _alive_at(d.assign(arm="registry"), "registry", 365)),
         "60 deaths", 60),
        (float(_patients(d)), "176 incident", 176),
    ],
    "testa2004_survival_from_onset.csv": lambda d: [
        (round(1 - _at(d, "onset_cohort", 365), 10), "93% after one", 0.93),
        (round(1 - _at(d, "onset_cohort", 1096), 10), "48% after three", 0.48),
        (round(1 - _at(d, "onset_cohort", 1826), 10), "24% after five", 0.24),
        (float(d["n"].iat[0]), "`n` 793", 793),
    ],
    "brooks2022_edaravone_survival.csv": lambda d: [
        (_at(d, "edaravone", 898), "`value` 0.5 (half the arm", 0.5),
        (_at(d, "no_edaravone", 715), "`value` 0.5 (half the arm", 0.5),
        # the days are the stated medians in months of 365.25 / 12 days
        (float(d["time"].max()), "survival time was 29.5 months", round(29.5 * 365.25 / 12)),
        (float(d["time"].min()), "and 23.5 months without", round(23.5 * 365.25 / 12)),
        (float(d["n"].iat[0]), "318 cases\nwere matched to 318 controls", 318),
    ],
    "bali2017_sod1_survival.csv": lambda d: [
        (_at(d, "all_sod1", 986), "`value` 0.5 (half the group dead", 0.5),
        # the days are the stated medians in years of 365.25 days
        (float(d.loc[d["subject"] == "all_sod1", "time"].iat[0]),
         "median survival was 2.7 years", round(2.7 * 365.25)),
        (float(d.loc[d["subject"] == "a4v", "time"].iat[0]), "(median survival\n1.2 years)",
         round(1.2 * 365.25)),
        (float(d.loc[d["subject"] == "non_a4v", "time"].iat[0]), "(median survival 6.8\nyears",
         round(6.8 * 365.25)),
        (float(d["n"].iat[0]), "cohort of 175 patients", 175),
    ],
    "gaiottino2013_serum_nfl.csv": lambda d: [
        (_at(d, "ALS", 0), "95.4 pg/ml", 95.4),
        (_at(d, "healthy_controls", 0), "3.3 pg/ml", 3.3),
    ],
    "meyer2023_tofersen_nfl.csv": lambda d: [
        (_at(d, "tofersen", 0), "1 at day 0", 1.0),
        (round(1 - _at(d, "tofersen", 198), 2), "mean sNfL: −62%, range −36% to −84%", 0.62),
        (round(1 - float(d["range_low"].max()), 2), "range −36% to −84%", 0.84),
        (round(1 - float(d["range_high"].max()), 2), "range −36% to −84%", 0.36),
    ],
    "sugimoto2020_serum_nfl_subgroups.csv": lambda d: [
        (_at(d, "limb_onset", 0), "limb 59.7 (38.9–91.4), n = 22", 59.7),
        (_at(d, "kings_stage_4", 0), "stage 4 67.0 (28.3–96.4), n = 9", 67.0),
        (float(d.loc[d["grouping"] == "site_of_onset", "n"].sum()), "30 ALS patients", 30),
        (float(d.loc[d["grouping"] == "kings_stage", "n"].sum()), "30 ALS patients", 30),
        (round(_pooled_log_sd(d, "site_of_onset"), 3), "**0.657 by", 0.657),
        (round(_pooled_log_sd(d, "kings_stage"), 3), "0.669 by stage**", 0.669),
        # the progression split's groups, as nfl_spread.py holds them (not CSV rows)
        (_nfl_spread().SLOWER, "45.8 (28.3–58.3) and", (45.8, 28.3, 58.3, 13)),
        (_nfl_spread().FASTER, "96.4 (71.1–132.4), 13 + 13", (96.4, 71.1, 132.4, 13)),
        (tuple(round(x, 2) for x in _nfl_spread().published_split()),
         "**2.10 times** the slower's, about\n**1.30–3.41**", (2.10, 1.30, 3.41)),
    ],
    "solomon2011_g93a_endstage.csv": lambda d: [
        (round(d["time"].mean(), 1), "123.9 ± 10.3", 123.9),
        (round(d["time"].std(), 1), "123.9 ± 10.3", 10.3),
        (float(len(d)), "162 G93A", 162),
    ],
    "solomon2011_g93a_cs5_death.csv": lambda d: [
        (round(d["time"].mean(), 1), "127.6 ± 9.8", 127.6),
        (round(d["time"].std(), 1), "127.6 ± 9.8", 9.8),
        (float(len(d)), "162 G93A", 162),
        (float((d["observable"] == "death").sum()), "the model's `death`", 162),
    ],
    "zang2002_g93a_corticospinal_umn.csv": lambda d: [
        (_at(d, "g93a_g1h", 110), "= 1 − 0.53 = 0.47", 0.47),
    ],
    "ebersbach2023_munix_d50.csv": lambda d: [
        (_at(d, "median_patient", 426), "`lmn` = 0.5 at day 426", 0.5),
        (_at(d, "median_patient", 852), "`alsfrs_r` = 24 at day 852", 24.0),
        # the days are the stated 14 months and twice that, in months of 365.25 / 12 days
        (float(d["time"].min()), "median of about 14 months", round(14 * 365.25 / 12)),
        (float(d["time"].max()), "in half the time of 50% functional loss",
         round(28 * 365.25 / 12)),
        (float(d["n"].iat[0]), "222 ALS patients", 222),
    ],
}


def test_every_table_has_key_numbers():
    assert len(CSVS) >= 11
    assert {p.name for p in CSVS} == set(KEY_NUMBERS)


@pytest.mark.parametrize("path", CSVS, ids=lambda p: p.name)
def test_table_parses_and_is_cited(path):
    df = read_measurements(path)
    assert len(df) > 0
    md = path.with_suffix(".md")
    assert md.is_file(), f"{path.name} has no sibling .md"
    assert DOI.search(md.read_text()), f"{md.name} has no DOI"


@pytest.mark.parametrize("path", CSVS, ids=lambda p: p.name)
def test_key_numbers_match_the_md(path):
    df = read_measurements(path)
    text = path.with_suffix(".md").read_text()
    for computed, quoted, expected in KEY_NUMBERS[path.name](df):
        assert computed == pytest.approx(expected, abs=1e-9), (path.name, quoted)
        assert quoted in text, f"{path.with_suffix('.md').name} does not state {quoted!r}"


def test_readme_indexes_every_table():
    readme = (FOLDER / "README.md").read_text()
    for path in CSVS:
        rows = len(pd.read_csv(path))
        assert re.search(rf"`{re.escape(path.name)}`.*\| {rows} \|", readme), path.name


def test_builder_reproduces_the_shipped_bytes(tmp_path):
    spec = importlib.util.spec_from_file_location("build_tables", FOLDER / "build_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for written in module.build(tmp_path):
        assert written.read_bytes() == (FOLDER / written.name).read_bytes(), written.name
