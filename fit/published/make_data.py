"""Write the combined data files the published-data recipes read (fit/published/data/).

    python fit/published/make_data.py

A recipe reads one data file, so calibrations that use two shipped tables get a file
made here from `data/published/*.csv`, byte for byte reproducible
(`tests/test_published_fits.py` checks that the shipped files are what this writes).
Nothing is typed in by hand except the one assumption named below.

- `mouse_endstage_umn.csv`: Solomon 2011 end-stage ages (162 mice) + Zang 2002
  corticospinal survival at 110 d (one row). The Zang abstract gives no spread; the row
  gets `sigma` = 0.05 (an assumed SD of a surviving fraction from retrograde counts,
  marked in `assumed`), because a single row cannot inform its own noise SD.
- `human_placebo_alsfrs.csv`: the placebo arm of MCI186-19 (Al-Chalabi 2020, days from
  the lead-in start) and the CENTAUR placebo arm (Paganoni 2020, days from randomisation),
  each arm one subject, rows as shipped.
- `human_pace_and_survival.csv`: those two arms + the survival curve from symptom onset of
  Testa 2004 (793 patients, one subject `onset_cohort`, day 0 = onset), rows as shipped.
- `edaravone_trial_and_survival.csv`: both arms of MCI186-19 (Al-Chalabi 2020, days from
  the lead-in start; subjects `mci186_19_placebo`, `mci186_19_edaravone`) and both arms of
  Brooks 2022 (days from the first infusion; `brooks_edaravone`, `brooks_no_edaravone`),
  rows as shipped.
- `edaravone_all_tables.csv`: `human_pace_survival_munix.csv` (below) + MCI186-19's
  edaravone arm + Brooks 2022's two arms, rows as shipped.
- `human_pace_survival_munix.csv`: that file + Ebersbach 2023's median course (limb LMN
  fraction 0.5 at 14 months from onset, ALSFRS-R 24 at 28 months; one subject
  `median_patient`, day 0 = onset). The paper's abstract gives no spread; the rows get
  `sigma` 0.1 (LMN fraction) and 3 points (ALSFRS-R), marked in `assumed`: about 3 months
  of the courses' slope at those points, for medians stated as "about".
- `sod1_survival.csv` and `sod1_a4v_survival.csv`: Bali 2017's median survival from onset
  of all 175 SOD1 carriers, and of those with A4V, one row each, as shipped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE.parent.parent / "data" / "published"
OUT = HERE / "data"
ZANG_SIGMA = 0.05
EBERSBACH_SIGMA = {"lmn": "0.1", "alsfrs_r": "3"}


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(PUBLISHED / name, dtype=str, keep_default_na=False)


def mouse_endstage_umn() -> pd.DataFrame:
    solomon = _read("solomon2011_g93a_endstage.csv").assign(source="Solomon 2011")
    zang = _read("zang2002_g93a_corticospinal_umn.csv").assign(
        source="Zang 2002", sigma=str(ZANG_SIGMA), assumed="sigma")
    return pd.concat([solomon, zang], ignore_index=True).fillna("")


def human_placebo_alsfrs() -> pd.DataFrame:
    mci = _read("alchalabi2020_edaravone_alsfrs.csv")
    mci = mci[mci["arm"] == "placebo"].assign(
        subject="mci186_19_placebo", source="Al-Chalabi 2020", time_origin="lead-in start")
    centaur = _read("paganoni2020_centaur_placebo_alsfrs.csv").assign(
        subject="centaur_placebo", source="Paganoni 2020", time_origin="randomisation")
    return pd.concat([mci, centaur], ignore_index=True).fillna("")


def human_pace_and_survival() -> pd.DataFrame:
    testa = _read("testa2004_survival_from_onset.csv").assign(
        source="Testa 2004", time_origin="symptom onset")
    return pd.concat([human_placebo_alsfrs(), testa], ignore_index=True).fillna("")


def edaravone_trial_and_survival() -> pd.DataFrame:
    mci = _read("alchalabi2020_edaravone_alsfrs.csv")
    mci = mci.assign(subject="mci186_19_" + mci["arm"], source="Al-Chalabi 2020",
                     time_origin="lead-in start")
    brooks = _read("brooks2022_edaravone_survival.csv")
    brooks = brooks.assign(subject="brooks_" + brooks["arm"], source="Brooks 2022",
                           time_origin="index date (first infusion)")
    return pd.concat([mci, brooks], ignore_index=True).fillna("")


def human_pace_survival_munix() -> pd.DataFrame:
    ebersbach = _read("ebersbach2023_munix_d50.csv")
    ebersbach = ebersbach.assign(sigma=ebersbach["observable"].map(EBERSBACH_SIGMA),
                                 assumed="sigma", source="Ebersbach 2023",
                                 time_origin="symptom onset")
    return pd.concat([human_pace_and_survival(), ebersbach], ignore_index=True).fillna("")


def edaravone_all_tables() -> pd.DataFrame:
    trial = edaravone_trial_and_survival()
    trial = trial[trial["subject"] != "mci186_19_placebo"]  # already in the MUNIX file
    return pd.concat([human_pace_survival_munix(), trial], ignore_index=True).fillna("")


def bali2017_row(subject: str) -> pd.DataFrame:
    bali = _read("bali2017_sod1_survival.csv")
    return bali[bali["subject"] == subject].assign(source="Bali 2017",
                                                  time_origin="symptom onset")


FILES = {"mouse_endstage_umn.csv": mouse_endstage_umn,
         "human_placebo_alsfrs.csv": human_placebo_alsfrs,
         "human_pace_and_survival.csv": human_pace_and_survival,
         "human_pace_survival_munix.csv": human_pace_survival_munix,
         "edaravone_trial_and_survival.csv": edaravone_trial_and_survival,
         "edaravone_all_tables.csv": edaravone_all_tables,
         "sod1_survival.csv": lambda: bali2017_row("all_sod1"),
         "sod1_a4v_survival.csv": lambda: bali2017_row("a4v")}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, make in FILES.items():
        make().to_csv(OUT / name, index=False, lineterminator="\n")
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
