"""Write the published-data CSVs in this folder from the numbers typed below.

Why a script and not hand-made CSVs: several tables are *derived* from what a paper states
(a standard error from an SD and n, a week-24 mean from a baseline and a slope, the
fraction of an arm dead from counts of survivors). Keeping the stated numbers and the
derivation here makes every CSV row traceable and reproducible byte for byte; the test
suite checks that running this script reproduces the shipped files.

Every constant is a number stated in its source (see the sibling `.md` of each table for
where it was seen). Run from the repository root:

    python data/published/build_tables.py
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import pandas as pd

from alsjax import write_measurements

HERE = Path(__file__).resolve().parent
DAYS_PER_MONTH = 365.25 / 12  # the trials' "points per month" converted to days


def se(sd: float, n: int) -> float:
    """Standard error of a mean from the stated SD and number of patients."""
    return sd / math.sqrt(n)


def arm_survival(subject: str, n: int, alive: int, day: float, **cols) -> dict:
    """An arm summary of `death`: of the arm's `n` patients, the fraction no longer alive
    at `day` (`alive` of `n` alive then), as the tidy format's event summary row."""
    return {"subject": subject, "time": day, "observable": "death",
            "value": (n - alive) / n, "n": n, **cols}


def arm_curve(subject: str, n: int, day: float, surviving: float, **cols) -> dict:
    """A point of a published survival curve (a Kaplan-Meier fraction `surviving` at
    `day`, not a count) as the tidy format's event summary row of `death`."""
    return {"subject": subject, "time": day, "observable": "death",
            "value": round(1.0 - surviving, 10), "n": n, **cols}


def normal_ages(n: int, mean: float, sd: float) -> list[float]:
    """`n` ages at the normal mid-quantiles, rescaled so that their sample mean and SD
    (n - 1) equal the stated mean and SD exactly; rounded to 0.1 day."""
    z = [NormalDist().inv_cdf((i - 0.5) / n) for i in range(1, n + 1)]
    zm = sum(z) / n
    zs = math.sqrt(sum((v - zm) ** 2 for v in z) / (n - 1))
    return [round(mean + sd * (v - zm) / zs, 1) for v in z]


def alchalabi2020_edaravone() -> pd.DataFrame:
    # Study MCI186-19, Table 1 of Al-Chalabi et al. (FAS): mean (SD) ALSFRS-R before the
    # 12-week observation period, at baseline (end of observation = randomisation), and at
    # the start of cycle 7 (24 weeks after randomisation) for those entering open label.
    # Day 0 = start of the observation period; randomisation on day 84; cycle 7 on day 252.
    arms = {
        "edaravone": ("riluzole:0,edaravone:84",
                      [(0, 43.6, 2.2, 69), (84, 41.9, 2.4, 69), (252, 37.8, 4.9, 65)]),
        "placebo": ("riluzole:0",
                    [(0, 43.5, 2.2, 68), (84, 41.8, 2.2, 68), (252, 34.8, 5.8, 58)]),
    }
    rows = []
    for arm, (therapy, visits) in arms.items():
        for day, mean, sd, n in visits:
            rows.append({"subject": arm, "time": day, "observable": "alsfrs_r", "value": mean,
                         "sigma": round(se(sd, n), 3), "therapy": therapy, "n": n,
                         "sd": sd, "arm": arm, "source_table": "Table 1"})
    return pd.DataFrame(rows)


def paganoni2020_centaur_placebo() -> pd.DataFrame:
    # CENTAUR placebo arm (modified ITT, n = 48). Baseline ALSFRS-R 36.7 +- 5.1 (Table 1);
    # mean rate of change -1.66 points/month through 24 weeks (abstract); the between-arm
    # difference 0.42 (95% CI 0.03 to 0.81) with 87 vs 48 patients gives the slope SE.
    n_drug, n_placebo = 87, 48
    base, base_sd, slope = 36.7, 5.1, -1.66
    months = 168 / DAYS_PER_MONTH
    diff_se = (0.81 - 0.03) / (2 * 1.959964)
    patient_sd = diff_se / math.sqrt(1 / n_drug + 1 / n_placebo)
    slope_se = patient_sd / math.sqrt(n_placebo)
    week24 = base + slope * months
    week24_se = math.sqrt(se(base_sd, n_placebo) ** 2 + (months * slope_se) ** 2)
    cols = {"subject": "placebo", "observable": "alsfrs_r", "n": n_placebo, "arm": "placebo"}
    return pd.DataFrame([
        {**cols, "time": 0, "value": base, "sigma": round(se(base_sd, n_placebo), 3),
         "derived": "no", "source_table": "Table 1"},
        {**cols, "time": 168, "value": round(week24, 2), "sigma": round(week24_se, 3),
         "derived": "baseline+slope*24wk", "source_table": "Table 1 + abstract"},
    ])


def bensimon1994_riluzole() -> pd.DataFrame:
    # Alive at 12 months, by arm and onset site (abstract): placebo 45/78 (bulbar 6/17, so
    # limb 39/61), riluzole 57/77 (bulbar 11/15, so limb 46/62). Day 0 = randomisation.
    groups = [("placebo", "bulbar", 17, 6), ("placebo", "limb", 61, 39),
              ("riluzole", "bulbar", 15, 11), ("riluzole", "limb", 62, 46)]
    return pd.DataFrame([
        arm_survival(f"{arm}_{site}", n, alive, 365.0,
                     therapy="riluzole:0" if arm == "riluzole" else "", arm=arm,
                     onset_site=site)
        for arm, site, n, alive in groups])


def lacomblez1996_riluzole() -> pd.DataFrame:
    # Alive without tracheostomy at the end of the study (median follow-up 18 months):
    # placebo 122 (50.4%), 50 mg 131 (55.3%), 100 mg 134 (56.8%), 200 mg 141 (57.8%).
    # Arm sizes follow from count / fraction (242, 237, 236, 244; total 959 as stated).
    arms = [("placebo", 0, 242, 122), ("riluzole_50mg", 50, 237, 131),
            ("riluzole_100mg", 100, 236, 134), ("riluzole_200mg", 200, 244, 141)]
    return pd.DataFrame([
        arm_survival(arm, n, alive, 548.0, therapy="riluzole:0" if dose else "", arm=arm,
                     dose_mg_per_day=dose)
        for arm, dose, n, alive in arms])


def wolf2014_registry() -> pd.DataFrame:
    # Population-based registry (Rhineland-Palatinate), 176 incident patients, one-year
    # mortality from diagnosis 34.1% -> 60 deaths (0.341 * 176 = 60.0). Day 0 = diagnosis.
    return pd.DataFrame([arm_survival("registry", 176, 116, 365.0)])


def testa2004_survival_from_onset() -> pd.DataFrame:
    # 793 consecutive patients (Besta institute, Milan, discharged with ALS 1971-1998):
    # survival from symptom onset 93% at one, 48% at three and 24% at five years; median
    # 2.9 years (95% CI 2.7-3.1). Day 0 = symptom onset; years as 365.25 days.
    return pd.DataFrame([arm_curve("onset_cohort", 793, round(years * 365.25), surviving)
                         for years, surviving in ((1, 0.93), (3, 0.48), (5, 0.24))])


def brooks2022_edaravone_survival() -> pd.DataFrame:
    # 318 IV-edaravone-treated patients matched 1:1 to 318 untreated (propensity scores,
    # pre-index disease duration among the covariates); median overall survival from the
    # index date 29.5 months with edaravone and 23.5 without. Day 0 = index date (first
    # edaravone claim; for controls the drug's market date); months as 365.25 / 12 days.
    arms = [("edaravone", "edaravone:0", 29.5), ("no_edaravone", "", 23.5)]
    return pd.DataFrame([
        arm_curve(arm, 318, round(months * DAYS_PER_MONTH), 0.5, therapy=therapy, arm=arm)
        for arm, therapy, months in arms])


def bali2017_sod1_survival() -> pd.DataFrame:
    # 175 SOD1-ALS patients (15 North American centres, cared for after 2000): median
    # survival 2.7 years for all, 1.2 years with A4V, 6.8 years with other variants
    # (log-rank, from symptom onset: the abstract's "disease duration"). The abstract gives
    # no A4V count; 63 is the same cohort's count in its AAN 2016 abstract (of 173 then),
    # and the others' 112 is 175 - 63. Day 0 = symptom onset; years as 365.25 days.
    arms = [("all_sod1", "all", 175, 2.7), ("a4v", "A4V", 63, 1.2),
            ("non_a4v", "non-A4V", 112, 6.8)]
    return pd.DataFrame([
        arm_curve(subject, n, round(years * 365.25), 0.5, genotype="SOD1", variant=variant)
        for subject, variant, n, years in arms])


def gaiottino2013_nfl() -> pd.DataFrame:
    # Serum NfL (ECL assay): ALS 95.4 pg/mL (n = 46), healthy controls 3.3 pg/mL (n = 67).
    cols = {"time": 0, "observable": "nfl", "fluid": "serum", "statistic": "as_stated"}
    return pd.DataFrame([
        {**cols, "subject": "ALS", "value": 95.4, "n": 46, "group": "als"},
        {**cols, "subject": "healthy_controls", "value": 3.3, "n": 67,
         "group": "healthy_control"},
    ])


def meyer2023_tofersen_nfl() -> pd.DataFrame:
    # Six SOD1-ALS patients on tofersen (expanded access): serum NfL fell by a mean of 62 %
    # (range 36-84 %) over a mean treatment of 6.5 months (range 5-8). Written as the
    # ratio to the pre-treatment level: 1 at day 0 (by definition), 1 - 0.62 = 0.38 at
    # 6.5 months; the range's ends are 1 - 0.84 and 1 - 0.36. Day 0 = first dose.
    cols = {"subject": "tofersen", "observable": "nfl", "genotype": "SOD1",
            "therapy": "tofersen:0", "fluid": "serum", "unit": "ratio_to_pretreatment"}
    return pd.DataFrame([
        {**cols, "time": 0, "value": 1.0, "statistic": "definition"},
        {**cols, "time": round(6.5 * DAYS_PER_MONTH), "value": round(1 - 0.62, 2),
         "statistic": "mean", "range_low": round(1 - 0.84, 2), "range_high": round(1 - 0.36, 2)},
    ])


def sugimoto2020_nfl_subgroups() -> pd.DataFrame:
    # Serum NfL (Simoa) in 30 ALS patients by subgroup, median (interquartile range), pg/mL
    # (Table 2): site of onset, limb 59.7 (38.9-91.4), n = 22; bulbar 84.0 (49.1-119.0),
    # n = 8; King's clinical stage 2 54.1 (36.3-60.3), n = 10; stage 3 98.6 (68.5-132.5),
    # n = 11; stage 4 67.0 (28.3-96.4), n = 9. Each grouping covers all 30 patients. Day 0 =
    # day of sampling (time since onset varies between patients; not in the table).
    cols = {"time": 0, "observable": "nfl", "fluid": "serum", "statistic": "median"}
    rows = [("limb_onset", "site_of_onset", 59.7, 38.9, 91.4, 22),
            ("bulbar_onset", "site_of_onset", 84.0, 49.1, 119.0, 8),
            ("kings_stage_2", "kings_stage", 54.1, 36.3, 60.3, 10),
            ("kings_stage_3", "kings_stage", 98.6, 68.5, 132.5, 11),
            ("kings_stage_4", "kings_stage", 67.0, 28.3, 96.4, 9)]
    return pd.DataFrame([{**cols, "subject": s, "value": v, "n": n, "q25": lo, "q75": hi,
                          "grouping": g} for s, g, v, lo, hi, n in rows])


def g93a_event_rows(mean: float, sd: float, observable: str, endpoint: str) -> pd.DataFrame:
    """Solomon 2011's 162 G93A mice reaching `endpoint` at `mean` +- `sd` days of age, as
    one `observable` event row per mouse at the normal mid-quantiles. Day 0 = birth."""
    return pd.DataFrame([{"subject": f"g93a_{i + 1:03d}", "time": t, "observable": observable,
                          "value": 1, "species": "mouse", "genotype": "SOD1",
                          "endpoint": endpoint, "reconstructed": "normal_quantiles"}
                         for i, t in enumerate(normal_ages(162, mean, sd))])


def solomon2011_endstage() -> pd.DataFrame:
    # 162 high-copy G93A mice reached CS 4 (both hind limbs functionally paralysed) at
    # 123.9 +- 10.3 days of age (mean +- SD).
    return g93a_event_rows(123.9, 10.3, "end_stage", "CS4")


def solomon2011_cs5() -> pd.DataFrame:
    # The same mice reached CS 5 (CS 4 plus a righting reflex over 20 s, the humane end
    # point that mouse "survival" usually means) at 127.6 +- 9.8 days of age: written as
    # the model's `death` event.
    return g93a_event_rows(127.6, 9.8, "death", "CS5")


def zang2002_umn() -> pd.DataFrame:
    # By 110 days of age, 53% of retrogradely labelled corticospinal neurons were lost in
    # G93A (G1H) mice: surviving fraction 0.47. Day 0 = birth.
    return pd.DataFrame([{"subject": "g93a_g1h", "time": 110, "observable": "umn",
                          "value": 0.47, "species": "mouse", "genotype": "SOD1",
                          "population": "corticospinal"}])


def ebersbach2023_munix_d50() -> pd.DataFrame:
    # 222 ALS patients (Jena), MUNIX of APB, ADM and TA. M50: months from symptom onset
    # until MUNIX falls to 50 % of the controls' mean; D50: months until ALSFRS-R has lost
    # half of its 48 points (24 left). Stated: M50 comes in half the time of D50 (title)
    # and precedes it by a median of about 14 months (abstract). Derived here: D50 = 2 x 14
    # = 28 months and M50 = 14 months (both from onset, months of 365.25 / 12 days).
    # `lmn` is the model's surviving fraction of limb lower motor neurons.
    gap = 14.0
    cols = {"subject": "median_patient", "genotype": "sporadic", "species": "human",
            "statistic": "derived_median", "n": 222}
    return pd.DataFrame([
        {**cols, "time": round(gap * DAYS_PER_MONTH), "observable": "lmn", "value": 0.5,
         "measure": "munix_relative_to_controls"},
        {**cols, "time": round(2 * gap * DAYS_PER_MONTH), "observable": "alsfrs_r",
         "value": 24.0, "measure": "alsfrs_r"},
    ])


TABLES = {
    "alchalabi2020_edaravone_alsfrs.csv": alchalabi2020_edaravone,
    "paganoni2020_centaur_placebo_alsfrs.csv": paganoni2020_centaur_placebo,
    "bensimon1994_riluzole_survival.csv": bensimon1994_riluzole,
    "lacomblez1996_riluzole_survival.csv": lacomblez1996_riluzole,
    "wolf2014_registry_survival.csv": wolf2014_registry,
    "testa2004_survival_from_onset.csv": testa2004_survival_from_onset,
    "brooks2022_edaravone_survival.csv": brooks2022_edaravone_survival,
    "bali2017_sod1_survival.csv": bali2017_sod1_survival,
    "gaiottino2013_serum_nfl.csv": gaiottino2013_nfl,
    "meyer2023_tofersen_nfl.csv": meyer2023_tofersen_nfl,
    "sugimoto2020_serum_nfl_subgroups.csv": sugimoto2020_nfl_subgroups,
    "solomon2011_g93a_endstage.csv": solomon2011_endstage,
    "solomon2011_g93a_cs5_death.csv": solomon2011_cs5,
    "zang2002_g93a_corticospinal_umn.csv": zang2002_umn,
    "ebersbach2023_munix_d50.csv": ebersbach2023_munix_d50,
}
"""File name -> the function that builds its rows."""


def build(folder: Path = HERE) -> list[Path]:
    """Write every table into `folder`; return the paths written."""
    paths = []
    for name, make in TABLES.items():
        path = folder / name
        write_measurements(make(), path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in build():
        print(p.name)
