"""The published-data calibrations (fit/published/*.toml): every recipe parses, reads its
data, and fits to convergence with few starts and steps; each lands near the published
number it targets. The full runs (the recipes' own starts and profiles, as
docs/make_validation.py runs them for docs/validation.md) are marked slow."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import alsjax
from alsjax._likelihood import ARM_EVENT_SD, predictions

ROOT = Path(__file__).resolve().parent.parent
FIT = ROOT / "fit" / "published"
RECIPES = sorted(p.stem for p in FIT.glob("*.toml"))

# Per recipe: starts and steps for the quick fit. The natural-history recipe fits one time
# shift per arm, each start's shifts placing the arms' first ALSFRS-R values on its model
# course (before 2026-12-04 uniform shifts put most arms on the flat ALSFRS-R = 48
# plateau, with zero gradient, and 1 of 32 starts reached the optimum; now 26 of 32).
# The two survival recipes read arm summaries (one course per arm: 4 and 1 subjects);
# their quick fits take 40 s and 28 s on 2 cores, mostly compiling (they took 234 s and
# 153 s when each patient was a row of its own). The riluzole one runs in
# CI: it covers arm summaries end to end, with onset alignment and a therapy.
QUICK = {
    "mouse_g93a": dict(starts=2, max_steps=30),
    "human_natural_history": dict(starts=8, max_steps=40),
    "human_registry_survival": dict(starts=2, max_steps=30),
    "edaravone_mci186_19": dict(starts=4, max_steps=30),  # 2: a start stops at the lower bound
    "riluzole_bensimon": dict(starts=3, max_steps=60),  # starts 1-2: a local optimum, 431.7
    "human_pace_survival": dict(starts=4, max_steps=40),
    "human_survival_spread": dict(starts=2, max_steps=30),
    "human_pace_survival_munix": dict(starts=4, max_steps=40),
    "edaravone_brooks_survival": dict(starts=2, max_steps=40),
    "edaravone_trial_and_survival": dict(starts=12, max_steps=80),  # 1 of 12 at the optimum
    "edaravone_all_tables": dict(starts=8, max_steps=80),  # 2 of 8 at the optimum
    "sod1_survival": dict(starts=1, max_steps=30),
    "sod1_a4v_survival": dict(starts=1, max_steps=30),
}
SLOW = {"human_registry_survival", "mouse_g93a", "human_natural_history",
        "human_pace_survival", "human_survival_spread", "human_pace_survival_munix",
        "edaravone_brooks_survival", "edaravone_trial_and_survival", "edaravone_all_tables",
        "sod1_a4v_survival"}
# In CI: edaravone's quick fit (about 40-60 s on 2 cores), and the SOD1 preset's drive
# (one start: its one parameter has one optimum, 4 of 4 starts agree in the full run).
# The mouse (70-90 s) and natural-history (50-70 s) quick fits ran in CI too, but put
# the 2-worker suite at 9.3-13.7 min on this machine, over the 10-minute budget: they run
# with `-m slow`.
QUICK_PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in RECIPES]


# A recipe whose optimum lies on a bound, as docs/validation.md reports it: the fit must
# say so (the bound, and the direction it leaves undetermined), and say nothing else.
AT_BOUND = {"edaravone_trial_and_survival": ("apoptotic_death_rate is at its lower bound",
                                             "near-singular Fisher information")}


def _run(recipe, name, out=None):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = alsjax.run_recipe(recipe, out)
    said, expected = [str(w.message) for w in seen], AT_BOUND.get(name, ())
    assert all(any(e in m for m in said) for e in expected), said
    assert all(any(e in m for e in expected) for m in said), said
    return result


def test_every_recipe_is_listed():
    assert set(RECIPES) == set(QUICK), "a new recipe needs its CI settings and check here"


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_parses_and_reads(name):
    recipe = alsjax.load_recipe(FIT / f"{name}.toml")
    df = alsjax.read_measurements(recipe.data)
    assert len(df) > 0
    assert 1 <= len(recipe.estimate) <= 3
    assert set(recipe.bounds) == set(recipe.estimate), "every estimate has explicit bounds"
    assert set(recipe.profile) <= set(recipe.estimate)
    text = (FIT / f"{name}.toml").read_text()
    assert text.startswith("#"), "each recipe opens with a comment saying what and why"


def test_combined_data_files_are_reproducible():
    spec = importlib.util.spec_from_file_location("make_data", FIT / "make_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, make in mod.FILES.items():
        text = make().to_csv(index=False, lineterminator="\n")
        assert text == (FIT / "data" / name).read_text(), name


def _survival(T, day):
    """The likelihood's share of an arm alive at data day `day`, when its course dies on
    data day T (arm summaries: log-normal, SD ARM_EVENT_SD, on the data clock)."""
    return norm.cdf((np.log(T) - math.log(day)) / ARM_EVENT_SD)


def _assert_testa(days):
    """Testa 2004: alive 0.93, 0.48, 0.24 at 1, 3 and 5 years from onset (793 patients),
    from one course's three death days with the arm spread: each within 0.03."""
    for k, (day, alive) in enumerate(((365.0, 0.93), (1096.0, 0.48), (1826.0, 0.24))):
        assert abs(_survival(days[k], day) - alive) < 0.03, (day, alive)


def _assert_brooks(T, subjects, prefix):
    """Brooks 2022: half of each arm dead at its median, 23.5 months untreated and 29.5
    on IV edaravone (days 715 and 898); each within 0.02."""
    for arm, day in (("no_edaravone", 715.0), ("edaravone", 898.0)):
        i = subjects.index(prefix + arm)
        assert abs(_survival(T[i, 0], day) - 0.5) < 0.02, arm


def _check(name, result):
    """One number per recipe against the published value it targets (stated tolerance)."""
    f, T, shift = (np.asarray(x) for x in predictions(result.params, result.data,
                                                      time_shift=result.time_shift))
    subjects = result.data.subjects
    if name == "mouse_g93a":
        # Solomon 2011: CS4 at 123.9 d (geometric mean of the 162 rows 123.5); within 3 d.
        end = np.asarray(T)[:-1, 0]
        assert abs(float(np.exp(np.mean(np.log(end)))) - 123.5) < 3.0
        # Zang 2002: UMN 0.47 at 110 d; within 0.1 (2 assumed SDs).
        assert abs(float(f[subjects.index("g93a_g1h"), 0]) - 0.47) < 0.1
    elif name == "human_natural_history":
        # CENTAUR placebo at day 168: 27.54 (SE 1.15); within 2.5 points.
        assert abs(float(f[subjects.index("centaur_placebo"), 1]) - 27.54) < 2.5
        # MCI186-19 placebo at day 252: 34.8 (SE 0.76); within 2.5 points.
        assert abs(float(f[subjects.index("mci186_19_placebo"), 2]) - 34.8) < 2.5
    elif name == "human_registry_survival":
        # Wolf 2014: 116/176 = 0.659 alive one year after diagnosis; one parameter, one
        # fraction (an arm summary), so the fit meets it: within 0.01.
        assert abs(_survival(T[0, 0], 365.0) - 116 / 176) < 0.01
    elif name == "edaravone_mci186_19":
        # Al-Chalabi 2020: day-252 means 37.8 (edaravone) and 34.8 (placebo), each within
        # 1.5 points; the drug arm at least 2 points ahead (published 3.0, 95 % CI 1.1-4.9;
        # before revision 8 the model's edaravone could not give more than 1.4).
        eda, pla = f[subjects.index("edaravone"), 2], f[subjects.index("placebo"), 2]
        assert abs(eda - 37.8) < 1.5 and abs(pla - 34.8) < 1.5 and eda - pla > 2.0
    elif name == "human_pace_survival":
        # Testa 2004: alive 0.93, 0.48, 0.24 at 1, 3, 5 years from onset (793 patients);
        # three points, one course with the arm spread: each within 0.03. The trial arms
        # as in the natural-history recipe: within 2.5 points.
        i = subjects.index("onset_cohort")
        assert float(shift[i]) == pytest.approx(float(predictions(
            result.params, result.data)[2][i]))  # its offset is not fitted: 0
        _assert_testa(T[i])
        assert abs(float(f[subjects.index("centaur_placebo"), 1]) - 27.54) < 2.5
        assert abs(float(f[subjects.index("mci186_19_placebo"), 2]) - 34.8) < 2.5
    elif name == "human_pace_survival_munix":
        # Ebersbach 2023's median course (assumed sigma 0.1 and 3 points): LMN fraction
        # 0.5 at day 426 after onset within one sigma, ALSFRS-R 24 at day 852 within 2.5
        # (survival and the arms pull D50 earlier: the fit leaves 17.8, 2.1 sigma, under
        # revision 9, and 19.5 under 2026.12.6, whose preset itself gave 6.6 there, with
        # the MUNIX half-way point 6.6 months late); under revision 9 (the recipe's preset
        # version 2026.12.8) the reserve this takes is inside the prior's range
        # (0.394-0.913; under 2026.12.6 it went below, to 0.20); CENTAUR's randomisation,
        # which the fit never sees, within the published SD (13.6 +/- 3.6 months after
        # onset); and survival from onset (Testa 2004) still within 0.03 at 1, 3 and 5 years.
        i = subjects.index("median_patient")
        assert abs(float(f[i, 0]) - 0.5) < 0.1 and abs(float(f[i, 1]) - 24.0) < 7.5
        assert 0.394 < float(result.estimates["motor_reserve"]) < 0.913
        months = float(result.estimates["shift:centaur_placebo"]) / (365.25 / 12)
        assert abs(months - 13.6) < 3.6, months
        i = subjects.index("onset_cohort")
        _assert_testa(T[i])
    elif name == "human_survival_spread":
        # Testa 2004 again, with the spread estimated: three points, two parameters, each
        # point within 0.02; the spread near the 0.72-0.77 the points imply about the
        # stated 2.9-year median (within 0.1).
        spread = float(result.estimates["arm_event_spread"])
        assert abs(spread - 0.745) < 0.1
        for k, (day, alive) in enumerate(((365.0, 0.93), (1096.0, 0.48), (1826.0, 0.24))):
            got = norm.cdf((np.log(T[0, k]) - math.log(day)) / spread)
            assert abs(got - alive) < 0.02, (day, alive, got)
    elif name == "edaravone_brooks_survival":
        # Brooks 2022: half of each arm dead at its median, 23.5 months untreated and 29.5
        # on edaravone (318 each). Two parameters, two medians: each met within 0.02; and
        # the efficacy below the preset's 0.05 (its profile's upper end is 0.038).
        _assert_brooks(T, subjects, "")
        assert float(result.estimates["edaravone_efficacy"]) < 0.05
    elif name == "edaravone_trial_and_survival":
        # MCI186-19's day-252 means (34.8 placebo, 37.8 edaravone) each within 1.5 points
        # and the drug arm ahead by more than the trial's lower 95 % end (1.1); Brooks
        # 2022's medians (half of each arm dead at 23.5 and 29.5 months) within 0.02; the
        # arms of each trial on one shift (two shifts for four subjects).
        eda = f[subjects.index("mci186_19_edaravone"), 2]
        pla = f[subjects.index("mci186_19_placebo"), 2]
        assert abs(eda - 37.8) < 1.5 and abs(pla - 34.8) < 1.5 and eda - pla > 1.1
        _assert_brooks(T, subjects, "brooks_")
        assert sum(n.startswith("shift:") for n in result.names) == 2
        assert shift[subjects.index("brooks_edaravone")] == shift[
            subjects.index("brooks_no_edaravone")]
    elif name == "edaravone_all_tables":
        # Every table with the efficacy alone free: Brooks 2022's medians within 0.02,
        # MCI186-19's drug arm ahead at day 252 (published 3.0, 1.1-4.9: the fit leaves
        # about 1.1), survival from onset (Testa 2004) within 0.03 at 1, 3 and 5 years,
        # and the efficacy below 2026.12.8's guessed 0.05.
        _assert_brooks(T, subjects, "brooks_")
        eda = f[subjects.index("mci186_19_edaravone"), 2]
        assert eda - f[subjects.index("mci186_19_placebo"), 2] > 0.9
        i = subjects.index("onset_cohort")
        _assert_testa(T[i])
        assert float(result.estimates["edaravone_efficacy"]) < 0.05
    elif name in ("sod1_survival", "sod1_a4v_survival"):
        # Bali 2017: half of the SOD1 carriers dead 2.7 years after onset (all variants,
        # 175) or 1.2 years (A4V, 63). One parameter, one median: met within 0.01. The
        # fast variant's drive is over twice the typical one's (a faster course needs
        # more of the mutant protein, the one misfolding in the SOD1 course since
        # 2026.12.12), and the typical one is 2026.12.12's preset (within 0.5 %).
        day = 986.0 if name == "sod1_survival" else 438.0
        assert abs(_survival(T[0, 0], day) - 0.5) < 0.01
        drive = float(result.estimates["mutant_sod1"])
        preset = float(alsjax.physical(alsjax.default_params("SOD1"))["mutant_sod1"])
        if name == "sod1_survival":
            assert drive == pytest.approx(preset, rel=5e-3)
        else:
            assert drive > 2 * preset
    elif name == "riluzole_bensimon":
        # Bensimon 1994: alive at 12 months 45/78 = 0.577 (placebo), 57/77 = 0.740
        # (riluzole). Two parameters, two arms (each pooled over onset sites, which the
        # model does not tell apart), so each arm's fraction is met: within 0.02.
        arm = np.array([s.split("_")[0] for s in subjects])
        for a, target in (("placebo", 45 / 78), ("riluzole", 57 / 77)):
            i = int(np.flatnonzero(arm == a)[0])
            assert abs(_survival(T[i, 0], 365.0) - target) < 0.02, (a, target)


def _assert_fit(result, recipe):
    assert result.converged
    for n in recipe.estimate:
        v = result.estimates[n]
        lo, hi = recipe.bounds[n]
        assert math.isfinite(v) and lo <= v <= hi, (n, v, lo, hi)


@pytest.mark.parametrize("name", QUICK_PARAMS)
def test_recipe_fits_quickly(name, tmp_path):
    recipe = alsjax.load_recipe(FIT / f"{name}.toml")
    recipe = dataclasses.replace(recipe, profile=(), **QUICK[name])
    # The two CI fits write their files too: arm summaries of events (riluzole), and
    # measurement rows that give their own sigma, drawn with 95 % bars (edaravone).
    out = tmp_path / "out" if name in ("riluzole_bensimon", "edaravone_mci186_19") else None
    result = _run(recipe, name, out)
    _assert_fit(result, recipe)
    _check(name, result)
    if out is not None:
        _check_arm_predictions(result, out / "predictions.csv")
        assert (out / "fit.png").read_bytes()[:4] == b"\x89PNG"
        rows = pd.read_csv(out / "predictions.csv")
        rows = rows[rows["observable"] == "alsfrs_r"]
        np.testing.assert_allclose(rows["residual"], rows["value"] - rows["prediction"],
                                   atol=1e-8)


def _check_arm_predictions(result, path):
    """predictions.csv gives an arm summary's predicted fraction with the event by its
    day (the value's own units), from the course's event day and the arm spread."""
    table = pd.read_csv(path)
    _, T, _ = (np.asarray(x) for x in predictions(result.params, result.data,
                                                  time_shift=result.time_shift))
    for _, row in table[table["observable"] == "death"].iterrows():
        s = result.data.subjects.index(row["subject"])
        expected = 1.0 - _survival(T[s, 0], float(row["time"]))
        assert row["prediction"] == pytest.approx(expected, abs=1e-8), row["subject"]
        assert row["residual"] == pytest.approx(row["value"] - expected, abs=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_full_run(name):
    """The recipe as shipped (its starts, steps and profiles), as docs/validation.md."""
    recipe = alsjax.load_recipe(FIT / f"{name}.toml")
    result = _run(recipe, name)
    _assert_fit(result, recipe)
    _check(name, result)
    for p in result.profiles:
        assert np.isfinite(p.objective).sum() >= len(p.objective) - 1
