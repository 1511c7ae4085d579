"""Plausible ranges: the prior's density against scipy, its draws, and that the draws solve.

The robustness check here is a small version of `benchmarks/bench_robustness.py` (10,000
draws per case, where at least 99.93 % of every case solved under the population prior of
2026.12.7; see its output in benchmarks/RESULTS.md).
"""

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import alsjax
from alsjax._presets import LATEST_PRESET
from alsjax._priors import _GUESS, DEATH_RATES, MOUSE_RANGES, POPULATION, RANGES, prior

CASES = [(g, "human") for g in alsjax.GENOTYPES] + [("SOD1", "mouse")]
DRIVES = ("mutant_sod1", "rbp_misfolding", "c9_repeat", "rna_stress")
FRACTIONS = ("apoptosis", "mitochondria", "microglia", "astrocytes", "toxic_glia", "umn",
             "lmn", "muscle", "respiratory_mn", "respiratory_muscle")


def test_every_parameter_has_a_documented_range():
    assert set(RANGES) == set(alsjax.PARAMETER_NAMES)
    assert set(MOUSE_RANGES) <= set(alsjax.PARAMETER_NAMES)
    for name, r in {**RANGES, **MOUSE_RANGES}.items():
        assert r.source and r.why, name
        transform = next(i.transform for i in alsjax.PARAMETERS if i.name == name)
        if r.spread is not None:
            # a GSD is a factor above 1; a logit SD is a positive number
            assert r.spread > (1.0 if transform != "logit" else 0.0), name


def test_model_md_counts_the_sourced_ranges():
    """docs/model.md says how many parameters name a source and how many are guesses; the
    sentence is checked against `RANGES` so a new parameter cannot leave it stale (it said
    62 and 16 when there were 67 and 23)."""
    text = " ".join((Path(__file__).parents[1] / "docs" / "model.md").read_text().split())
    sourced = sum(r.source != "guess" for r in RANGES.values())
    n = len(alsjax.PARAMETER_NAMES)
    assert f"Of the {n} parameters, {sourced} name a source" in text
    assert f"the other {n - sourced} are guesses" in text


@pytest.mark.parametrize("genotype,species", CASES)
def test_medians_are_the_presets_and_absent_drives_stay_zero(genotype, species):
    p = prior(genotype, species, population=False)
    preset = alsjax.default_params(genotype, species)
    median = p.median()
    for name in alsjax.PARAMETER_NAMES:
        assert float(getattr(median, name)) == pytest.approx(float(getattr(preset, name)),
                                                            rel=1e-12, abs=1e-15), name
    draws = alsjax.physical(p.sample(jax.random.key(1), 200))
    for name in DRIVES:
        if float(alsjax.physical(preset)[name]) == 0.0:
            assert p.kinds[name] == "fixed" and np.all(np.asarray(draws[name]) == 0.0), name
        else:
            assert p.kinds[name] == "lognormal" and np.all(np.asarray(draws[name]) > 0), name


@pytest.mark.parametrize("genotype,species", CASES)
def test_the_population_prior_scales_death_rates_and_guessed_spreads(genotype, species):
    """The default prior of the newest version is the population one: the preset prior
    with the four death rates' medians times the calibrated factor, the human spreads the
    calibration names at their GSD, the other guessed human spreads at the calibrated GSD,
    and nothing else changed. Versions before 2026.12.6 keep the preset prior, and asking
    them for a population is one line."""
    calibration = POPULATION[LATEST_PRESET]
    factor = calibration.death_rate_factor[(genotype, species)]
    pop, base = prior(genotype, species), prior(genotype, species, population=False)
    assert pop.kind == base.kind
    for name in alsjax.PARAMETER_NAMES:
        loc, base_loc = float(getattr(pop.loc, name)), float(getattr(base.loc, name))
        shift = math.log(factor) if name in DEATH_RATES and pop.kinds[name] != "fixed" else 0
        assert loc == pytest.approx(base_loc + shift, rel=1e-6, abs=1e-6), name
        scale, base_scale = float(getattr(pop.scale, name)), float(getattr(base.scale, name))
        human = species == "human" and pop.kinds[name] != "fixed"
        expected = (math.log(calibration.spreads[name])
                    if human and name in calibration.spreads
                    else math.log(calibration.guess_spread)
                    if human and RANGES[name].spread == _GUESS else base_scale)
        assert scale == pytest.approx(expected, rel=1e-6), name
    old = prior(genotype, species, preset_version="2026.12")
    same = prior(genotype, species, preset_version="2026.12", population=False)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(a == b), old.loc, same.loc))
    with pytest.raises(alsjax.ALSJaxError, match="no population calibration") as e:
        prior(genotype, species, preset_version="2026.12", population=True)
    assert "\n" not in str(e.value)


def test_sample_is_reproducible_and_matches_loc_and_scale(key):
    p = prior("C9orf72")
    a, b = p.sample(key, 4000), p.sample(key, 4000)
    other = p.sample(jax.random.key(1), 4000)
    for name in alsjax.PARAMETER_NAMES:
        x = np.asarray(getattr(a, name))
        assert x.shape == (4000,)
        np.testing.assert_array_equal(x, np.asarray(getattr(b, name)))
        loc, scale = float(getattr(p.loc, name)), float(getattr(p.scale, name))
        if p.kinds[name] == "fixed":
            assert np.all(x == loc)
            continue
        assert not np.array_equal(x, np.asarray(getattr(other, name)))
        x = np.log(x) if p.kinds[name] == "lognormal" else x
        # 4000 draws: the sample mean is within 4 standard errors, the SD within 10 %
        assert abs(x.mean() - loc) < 4 * scale / np.sqrt(4000), name
        assert x.std() == pytest.approx(scale, rel=0.1), name


def _scipy_log_prob(p, params) -> float:
    """The same density from scipy.stats, written on the physical values."""
    phys = alsjax.physical(params)
    total = 0.0
    for info in alsjax.PARAMETERS:
        kind = p.kinds[info.name]
        if kind == "fixed":
            continue
        x = float(phys[info.name])
        loc, scale = float(getattr(p.loc, info.name)), float(getattr(p.scale, info.name))
        if info.transform == "log":  # density of log(x): lognormal pdf times the Jacobian x
            total += stats.lognorm.logpdf(x, s=scale, scale=np.exp(loc)) + np.log(x)
        elif info.transform == "logit":
            total += stats.norm.logpdf(special.logit(x), loc, scale)
        else:  # a plain drive is its own stored value
            total += stats.lognorm.logpdf(x, s=scale, scale=np.exp(loc))
    return total


@pytest.mark.parametrize("genotype,species", [("SOD1", "human"), ("SOD1", "mouse"),
                                              ("FUS", "human")])
def test_log_prob_matches_scipy(genotype, species, key):
    p = prior(genotype, species)
    draws = p.sample(key, 5)
    ours = np.asarray(jax.jit(type(p).log_prob)(p, draws))  # a pytree; leading axes pass
    assert ours.shape == (5,)
    for i in range(5):
        one = jax.tree.map(lambda v, i=i: v[i], draws)
        assert float(ours[i]) == pytest.approx(_scipy_log_prob(p, one), rel=1e-10)
        assert float(p.log_prob(one)) == pytest.approx(float(ours[i]), rel=1e-12)


def test_log_prob_under_vmap_and_grad():
    """vmap agrees with the batched call; grad agrees with the closed form -(x - loc)/scale²
    (and, for a plain drive x, -(log x - loc)/(scale² x) - 1/x)."""
    p = prior("TARDBP")
    draws = p.sample(jax.random.key(3), 3)
    np.testing.assert_allclose(jax.vmap(p.log_prob)(draws), p.log_prob(draws), rtol=1e-12)
    one = jax.tree.map(lambda v: v[0], draws)
    grad = jax.grad(p.log_prob)(one)
    for name in alsjax.PARAMETER_NAMES:
        x = float(getattr(one, name))
        loc, scale = float(getattr(p.loc, name)), float(getattr(p.scale, name))
        if p.kinds[name] == "fixed":
            expected = 0.0
        elif p.kinds[name] == "normal":
            expected = -(x - loc) / scale**2
        else:
            expected = -(np.log(x) - loc) / (scale**2 * x) - 1 / x
        assert float(getattr(grad, name)) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    # a plain drive at or below zero is impossible
    assert float(p.log_prob(one.replace(rna_stress=-0.1))) == -np.inf


_solve = jax.jit(alsjax.simulate_batch)  # one compilation for every case


@pytest.mark.parametrize("genotype,species", CASES)
def test_prior_draws_solve_and_stay_physical(genotype, species):
    """300 draws per case solve at the default tolerances and step limit, and every state
    stays in its physical range. Zero failures are required: if the true failure rate were
    the 0.1 % the benchmark allows, 300 draws would show none with probability 74 %; the
    benchmark measured 0-7 in 10,000 per case (the population prior of 2026.12.7,
    2026-12-06), and these fixed draws had none."""
    params = prior(genotype, species).sample(jax.random.key(7), 300)
    horizon = 20 * 365.25 if species == "human" else 365.0
    # Per-draw rows of times, as `_survival_and_first_year_slope` solves: one program.
    sol = _solve(params, jnp.broadcast_to(jnp.linspace(0.0, horizon, 41), (300, 41)))
    assert bool(np.all(sol.success)), int(np.sum(~np.asarray(sol.success)))
    ys = np.asarray(sol.ys)
    idx = [alsjax.STATE_NAMES.index(n) for n in FRACTIONS]
    tol = 1e-6
    assert np.all(ys >= -tol) and np.all(ys[..., idx] <= 1 + tol)
    score, fvc = np.asarray(sol.observables["alsfrs_r"]), np.asarray(sol.observables["fvc"])
    assert np.all((score >= 0) & (score <= 48)) and np.all((fvc >= -tol) & (fvc <= 120))
    # the draws are ill: nearly all show onset within the horizon
    assert np.mean(np.isfinite(np.asarray(sol.events["onset"]))) > 0.95


def _survival_and_first_year_slope(params):
    """Survival from onset (months; inf where death comes after 20 years) and the ALSFRS-R
    slope over the first year after onset (to death if sooner; points/month; NaN without
    death), as `benchmarks/bench_robustness.py` measures them, for the draws with onset;
    and log serum NfL one year after onset of the draws alive then, as
    `fit/published/nfl_spread.py` reads it. Every solve has per-draw rows of 41 times: one
    compilation."""
    n = params.time_scale.shape[0]
    month = 365.25 / 12
    events = _solve(params, jnp.broadcast_to(jnp.linspace(0.0, 20 * 365.25, 41), (n, 41))
                    ).events
    onset, death = np.asarray(events["onset"]), np.asarray(events["death"])
    ill, both = np.isfinite(onset), np.isfinite(onset) & np.isfinite(death)
    survival = np.full(n, np.inf)
    np.subtract(death, onset, out=survival, where=both)
    span = np.where(both, np.minimum(survival, 365.25), 365.25)
    rows = np.where(ill, onset, 0.0)[:, None] + span[:, None] * np.linspace(0.0, 1.0, 41)
    observables = _solve(params, jnp.asarray(rows)).observables
    score = np.asarray(observables["alsfrs_r"])
    slope = np.where(both, (score[:, 0] - score[:, -1]) / (span / month), np.nan)
    log_nfl = np.log(np.asarray(observables["nfl"])[ill & (survival > 365.25), -1])
    return survival[ill] / month, slope[ill], log_nfl


def test_survival_and_limb_decline_are_not_one_number():
    """Sporadic draws from the plausible ranges: the rank correlation of survival with the
    first-year ALSFRS-R slope is above -0.92 (10,000 draws: -0.76), where one motor pool
    (every draw's `respiratory_vulnerability` set to 1, the model before revision 5)
    ties them below it (10,000 draws of the preset prior: -0.96). 300 draws: the sampling
    SD of either coefficient is about 0.015 or less, so the threshold sits 3 SDs from each.

    And the population prior's draws die as the preset does: their median survival from
    onset is within 20 % of the preset's (the sampling SD of the median of 300 draws is
    about 6 %); the preset prior's draws sit at 0.75 of it (10,000 draws: 26.6 months
    against 35.2). These 300 draws: rank correlations -0.74 (two pools) and -0.96 (one);
    median survival 0.95 (population) and 0.77 (preset prior) of the preset's."""
    draws = prior("sporadic").sample(jax.random.key(11), 300)
    one_pool = draws.replace(respiratory_vulnerability=jnp.ones(300))
    results = {name: _survival_and_first_year_slope(p)
               for name, p in (("two pools", draws), ("one pool", one_pool))}
    rho = {name: stats.spearmanr(*(x[np.isfinite(slope)] for x in (survival, slope))).statistic
           for name, (survival, slope, _) in results.items()}
    assert rho["two pools"] > -0.92 > rho["one pool"], rho
    # float64, not weakly typed: the draws' program, not a second compilation.
    preset = jax.tree.map(lambda a: jnp.broadcast_to(jnp.asarray(a, jnp.float64), (300,)),
                          alsjax.default_params())
    preset_survival = _survival_and_first_year_slope(preset)[0][0]
    ratio = np.median(results["two pools"][0]) / preset_survival
    assert 0.8 < ratio < 1.2, ratio


def test_population_prior_spreads_nfl_as_patients_do():
    """Serum NfL one year after onset spreads between sporadic draws as between Sugimoto
    2020's 30 patients: a log-scale SD inside the published value's 95 % interval, 0.52-0.88
    (`nfl_spread.py`: 0.66 pooled from the subgroups; chi-squared on 29 df). 300 draws: the
    sampling SD of the draws' log SD is about 0.03. The 2026.12.6 population prior, which
    spread every guessed rate alike and kept the NfL parameters' wide guesses, is above it
    (2,000 draws: 1.35). These 300 draws: 0.72 and 1.30."""
    spread = {version: float(_survival_and_first_year_slope(
        prior("sporadic", preset_version=version).sample(jax.random.key(12), 300))[2].std())
        for version in (LATEST_PRESET, "2026.12.6")}
    assert 0.52 < spread[LATEST_PRESET] < 0.88 < spread["2026.12.6"], spread


def test_unknown_genotype_or_species_raises():
    with pytest.raises(alsjax.ALSJaxError, match="genotype"):
        prior("ALS2")
    with pytest.raises(alsjax.ALSJaxError, match="mouse"):
        prior("FUS", "mouse")


def test_plausible_priors_are_the_population_ranges():
    """`plausible_priors` under the newest version, against the tables it comes from: a
    death rate's median is the preset times the calibrated factor (GSD as documented); a
    rate with a calibrated spread has it; a logit-stored fraction's GSD is e^(SD of its
    logit). A fixed parameter or an unknown name is one line."""
    preset = alsjax.physical(alsjax.default_params())
    calibration = POPULATION[LATEST_PRESET]
    factor = calibration.death_rate_factor[("sporadic", "human")]
    got = alsjax.plausible_priors(["apoptotic_death_rate", "nfl_release", "onset_threshold"])
    expected = {
        "apoptotic_death_rate": (float(preset["apoptotic_death_rate"]) * factor,
                                 RANGES["apoptotic_death_rate"].spread),
        "nfl_release": (float(preset["nfl_release"]), calibration.spreads["nfl_release"]),
        "onset_threshold": (float(preset["onset_threshold"]),
                            math.exp(RANGES["onset_threshold"].spread)),
    }
    for name, pair in expected.items():
        assert got[name] == pytest.approx(pair, rel=1e-9), name
    for name, words in (("mutant_sod1", "a drive it lacks"), ("time_scale", "held fixed"),
                        ("nfl_relese", "did you mean 'nfl_release'")):
        with pytest.raises(alsjax.ALSJaxError, match=words) as e:
            alsjax.plausible_priors([name])
        assert "\n" not in str(e.value)
