"""What a fit flags before its numbers are trusted: an estimate at its bound, parameters the
data cannot tell apart (near-singular Fisher information), subjects that differ more than
the noise allows (heterogeneity), float32; and the summary's JSON holds plain floats.

The at-bound fits share the default layout and estimate (tests/_fit_helpers.py), so they
reuse the optimiser the other fit tests compile.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from alsjax import FitWarning, fit, make_data
from alsjax._diagnostics import (
    HETEROGENEITY_P,
    NEAR_SINGULAR,
    POPULATION_FLAG,
    chi2_sf,
    heterogeneity,
    messages,
    weakest_direction,
)

from _fit_helpers import ESTIMATE, HUMAN_TRUTH, synthetic

BOUNDS = {"apoptotic_death_rate": (0.002, 0.03), "nfl_release": (300.0, 15000.0)}
SETTINGS = dict(optimiser="lm", n_starts=4, max_steps=60, progress=False)


@pytest.fixture(scope="module")
def data():
    return make_data(synthetic(HUMAN_TRUTH, seed=0))


def test_bounds_that_exclude_the_truth_flag_at_bound(data):
    """nfl_release's truth (2600) lies above the upper bound 1500: the estimate sits on
    it, is flagged, and the fit warns once, naming it; the other is not flagged."""
    bounds = dict(BOUNDS, nfl_release=(300.0, 1500.0))
    with pytest.warns(FitWarning, match="nfl_release is at its upper bound") as caught:
        result = fit(data, ESTIMATE, bounds=bounds, **SETTINGS)
    notes = [str(w.message) for w in caught if "bound" in str(w.message)]
    assert len(notes) == 1 and "--bound nfl_release=LOW,HIGH" in notes[0]  # how to widen
    assert "preset version" in notes[0]  # the other usual cause: data made under another
    assert result.diagnostics.at_bound["nfl_release"] is True
    assert result.diagnostics.bound_side["nfl_release"] == "upper"
    assert result.diagnostics.at_bound["apoptotic_death_rate"] is False
    assert result.estimates["nfl_release"] > 0.97 * 1500.0


def test_truth_inside_bounds_is_not_flagged(data):
    result = fit(data, ESTIMATE, bounds=BOUNDS, **SETTINGS)  # no FitWarning: would fail
    diag = result.diagnostics
    assert not any(diag.at_bound.values()) and diag.warnings == ()
    # Two well-identified parameters: far from singular (|correlation| ~ 0.3).
    assert diag.min_eigenvalue > 0.3
    # Four subjects simulated at one truth: homogeneous (6 groups - 2 parameters = 4 df
    # would be 8 groups; here 4 subjects x 2 observables - 2 parameters).
    assert diag.heterogeneity["df"] == 4 * 2 - 2
    assert diag.heterogeneity["p_value"] > HETEROGENEITY_P


def test_parameters_the_data_cannot_tell_apart():
    """NfL clears in days while the disease runs for years, so serum NfL sits at its
    quasi-steady state baseline + release x (neuron loss rate) / clearance: the data fix
    release / clearance, not each. The fit flags the Fisher information as near-singular
    and names the combination: equal steps in log release and log clearance."""
    truth = {"nfl_clearance": 0.1, "nfl_release": 6060.0}
    bounds = {"nfl_release": (3000.0, 12000.0), "nfl_clearance": (0.05, 0.2)}
    with pytest.warns(FitWarning, match="near-singular") as caught:
        result = fit(make_data(synthetic(truth, seed=0)), ("nfl_release", "nfl_clearance"),
                     bounds=bounds, **dict(SETTINGS, n_starts=2))
    diag = result.diagnostics
    assert diag.min_eigenvalue < NEAR_SINGULAR
    d = diag.weakest_direction
    assert abs(d["nfl_release"] - d["nfl_clearance"]) < 0.1  # the ratio is what is fixed
    assert abs(d["sigma:alsfrs_r"]) < 1e-6 and abs(d["sigma:nfl"]) < 1e-6
    line = next(str(w.message) for w in caught if "near-singular" in str(w.message))
    # Named largest component first: the two are nearly equal, so either order.
    assert ("nfl_clearance, nfl_release are not separately identifiable" in line
            or "nfl_release, nfl_clearance are not separately identifiable" in line), line
    assert "log nfl_clearance" in line and "log nfl_release" in line
    # The ratio itself is recovered (within 10%) where neither parameter is.
    ratio = result.estimates["nfl_release"] / result.estimates["nfl_clearance"]
    assert abs(ratio / 60600.0 - 1.0) < 0.1


def test_weakest_direction_of_a_constructed_information():
    """J with two columns that differ by 1e-4: the scaled eigenvalue is ~ (1e-4)^2 / 4
    and the direction is (+1, -1) over them; a third, orthogonal column stays out."""
    rng = np.random.default_rng(0)
    a, c = rng.normal(size=50), rng.normal(size=50)
    c -= a * (a @ c) / (a @ a)
    J = np.stack([a, -(a + 1e-4 * rng.normal(size=50)), 10.0 * c], axis=1)
    value, direction = weakest_direction(J.T @ J, ["p", "q", "r"])
    assert value < 1e-7
    assert direction["p"] == pytest.approx(1.0) or direction["q"] == pytest.approx(1.0)
    assert direction["p"] == pytest.approx(direction["q"], rel=1e-3)
    assert abs(direction["r"]) < 1e-3
    # A parameter the data do not touch at all is the weakest direction by itself.
    F = np.diag([4.0, 0.0, 1.0])
    assert weakest_direction(F, ["p", "q", "r"]) == (0.0, {"p": 0.0, "q": 1.0, "r": 0.0})


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 6, 7, 10, 11, 39, 40, 99, 100, 255, 256, 801,
                                2000, 5001])
def test_chi2_survival_against_scipy(df):
    """The closed form against scipy.special.chdtrc (the independent reference), from
    p near 1 to p = 1e-300: 1e-11 relative (the sums in logarithms lose about 1e-12 at
    df 5001)."""
    from scipy.special import chdtrc

    for x in np.geomspace(1e-6, 5.0 * df + 400.0, 200):
        ref = float(chdtrc(df, x))
        if ref > 1e-300:
            assert chi2_sf(float(x), df) == pytest.approx(ref, rel=1e-11, abs=0), (df, x)
    assert chi2_sf(0.0, df) == 1.0 and chi2_sf(math.inf, df) == 0.0
    assert math.isnan(chi2_sf(math.nan, df))


def test_heterogeneity_statistic_on_constructed_residuals():
    """Standard-normal residuals (the pooled model right) pass; the same with each
    subject's mean moved by 0.6 SD (subjects differ) fail, and the warning names the
    population fit."""
    rng = np.random.default_rng(1)
    S, n = 20, 12
    subject = np.repeat(np.arange(S), n)
    groups = np.stack([subject, np.zeros_like(subject)], axis=1)
    ps = [heterogeneity(rng.normal(size=S * n), groups, 2)[2] for _ in range(200)]
    # Under the null the p-values are uniform: about 0.1% fall below 0.001.
    assert np.mean(np.asarray(ps) < HETEROGENEITY_P) < 0.02
    assert 0.4 < np.mean(ps) < 0.6
    offsets = 0.6 * rng.normal(size=S)
    r = rng.normal(size=S * n) + offsets[subject]
    stat, df, p = heterogeneity(r, groups, 2)
    assert df == S - 2 and p < 1e-6, (stat, df, p)
    # The statistic by hand: sum over subjects of n * mean^2.
    means = r.reshape(S, n).mean(axis=1)
    assert stat == pytest.approx(float(np.sum(n * means**2)), rel=1e-12)
    notes = messages({}, 1.0, {}, (), (stat, df, p))
    assert len(notes) == 1 and "subjects differ more than the noise allows" in notes[0]
    assert f"alsjax fit {POPULATION_FLAG}" in notes[0]
    # Too few groups for the parameters: no test.
    assert math.isnan(heterogeneity(r[:n], groups[:n], 2)[2])


def test_summary_json_has_plain_floats(tmp_path):
    """Every number in summary.json is a plain int, float or None (json itself would
    refuse a numpy float32; this checks what was written, after a real fit)."""
    from alsjax import run_recipe
    from alsjax._recipe import default_recipe_path

    out = tmp_path / "run"
    run_recipe(default_recipe_path(), out)
    summary = json.loads((out / "summary.json").read_text())

    def walk(x, path="summary"):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{path}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")
        else:
            assert x is None or type(x) in (bool, int, float, str), (path, type(x))
            if type(x) is float:
                assert math.isfinite(x), path

    walk(summary)
    assert summary["alsjax_output"] == "fit"
    assert summary["align"] == "cascade"  # the default recipe's clock, for other tools
    assert set(summary["at_bound"]) == set(summary["estimates"])
    assert all(v is False for v in summary["at_bound"].values())
    timings = summary["timings_s"]
    assert {"fit", "laplace", "report"} <= set(timings)
    assert all(set(v) == {"compile_s", "run_s"} for v in timings.values())
    # Wall seconds of the run's phases; the report's include its figure.
    phases = summary["phases_s"]
    assert set(phases) == {"start_s", "read_s", "prepare_s", "fit_s", "figure_s", "report_s"}
    assert all(v >= 0 for v in phases.values() if v is not None)
    assert phases["figure_s"] <= phases["report_s"]
    assert summary["diagnostics"]["warnings"] == []


def test_float32_fit_warns_once():
    """With float64 off (a fresh process: no test flips JAX's settings) `fit` warns, once
    per session, before any work (here a bad name then stops it)."""
    import subprocess
    import sys
    import textwrap

    csv = Path(__file__).resolve().parent.parent / "data/synthetic/small_human.csv"
    code = textwrap.dedent(f"""
        import warnings
        import alsjax
        data = alsjax.make_data(alsjax.read_measurements({str(csv)!r}))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            for _ in range(2):
                try:
                    alsjax.fit(data, ["no_such_parameter"])
                except alsjax.ALSJaxError:
                    pass
        print(len(caught), caught[0].category.__name__, caught[0].message)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out.startswith("1 FitWarning float64 is off (jax_enable_x64 is False)"), out


@pytest.mark.parametrize("name,heterogeneous", [("human_cohort", True),
                                                ("small_human", False)])
def test_heterogeneity_on_the_shipped_cohorts(name, heterogeneous):
    """The statistic on the shipped synthetic data at the preset they were made with, with
    the noise
    the data were made with (ALSFRS-R SD 1.5, NfL CV 0.15): `human_cohort` varies three
    rates between subjects (SD 0.25 on the log scale) and is flagged; `small_human`
    shares one parameter set and is not."""
    from alsjax import OBSERVABLE_NAMES, read_measurements, residuals

    root = Path(__file__).resolve().parent.parent / "data" / "synthetic"
    version = json.loads((root / f"{name}_truth.json").read_text())["preset_version"]
    d = make_data(read_measurements(root / f"{name}.csv"),
                  align="onset" if name == "human_cohort" else "cascade",
                  preset_version=version)
    sigma = np.asarray([1.5 if k == "alsfrs_r" else 0.15 if k == "nfl" else 1.0
                        for k in OBSERVABLE_NAMES])
    r = np.asarray(residuals(d.base, d, sigma=sigma))[:d.mask.size].reshape(d.mask.shape)
    mask = np.asarray(d.mask)
    subject = np.broadcast_to(np.arange(mask.shape[0])[:, None], mask.shape)
    groups = np.stack([subject[mask], np.asarray(d.obs)[mask]], axis=1)
    _, _, p = heterogeneity(r[mask], groups, n_params=2)
    assert (p < HETEROGENEITY_P) == heterogeneous, p
