"""The fit engine: recovery of known truth (human and mouse), each optimiser, failed
starts, one compilation, the gradient the fit uses, SE calibration, profiles.

All fits share the layout of the shipped default fit (tests/_fit_helpers.py), so the
optimiser compiles once for the module (and for the CLI's default fit).
"""

import dataclasses
import math
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import alsjax
from alsjax import fit, make_data, profile, sample_posterior
from alsjax._problem import make_problem, objective, sobol_starts, to_z

from _fit_helpers import BEFORE_REVISION_9, ESTIMATE, HUMAN_TRUTH, MOUSE_TRUTH, NOISE, synthetic

BOUNDS = {"apoptotic_death_rate": (0.002, 0.03), "nfl_release": (300.0, 15000.0)}
SETTINGS = dict(bounds=BOUNDS, optimiser="lm", n_starts=4, max_steps=60, progress=False)
REL_TOL = 0.15  # recovery tolerance: 4 subjects x 15 noisy points identify both to ~5%


def _check_recovery(result, truth, tol=REL_TOL):
    """Within `tol` and inside the reported 95% Laplace interval. The data seeds are fixed
    in advance (0 human, 1 mouse, 0 failed-start); each parameter misses its interval by
    chance 1 time in 20, so a failure at these seeds is reported, never re-seeded."""
    for name, true in truth.items():
        est = result.estimates[name]
        assert abs(est - true) / true < tol, (name, est, true)
        assert result.ci_low[name] < true < result.ci_high[name], (
            name, est, true, result.ci_low[name], result.ci_high[name])


@pytest.fixture(scope="module")
def human():
    data = make_data(synthetic(HUMAN_TRUTH, seed=0))
    result = fit(data, ESTIMATE, **SETTINGS)
    return result, data


def test_human_recovery(human):
    result, data = human
    assert result.converged and not result.start_failed.any()
    _check_recovery(result, HUMAN_TRUTH)
    # The noise is mixed (ALSFRS-R additive SD 1.0, NfL log-normal CV 0.15), both estimated.
    assert result.noise == {"alsfrs_r": "gaussian", "nfl": "lognormal"}
    assert 0.6 < result.estimates["sigma:alsfrs_r"] < 1.5
    assert 0.09 < result.estimates["sigma:nfl"] < 0.23
    # At the optimum each is its closed form: the RMS residual on its own scale (linear
    # for ALSFRS-R, log for NfL), from a separate solve at the fitted parameters
    # (interpolation differs from the fit's at ~rtol, hence 1e-3).
    times, obs = np.asarray(data.times), np.asarray(data.obs)
    ts = np.unique(times[np.asarray(data.mask)])
    sol = alsjax.simulate(result.best_params, jnp.asarray(ts))
    for k, (model, _) in NOISE.items():
        sel = np.asarray(data.mask) & (obs == alsjax.OBSERVABLE_NAMES.index(k))
        f = np.asarray(sol.observables[k])[np.searchsorted(ts, times[sel])]
        y = np.asarray(data.values)[sel]
        e = np.log(y) - np.log(f) if model == "lognormal" else y - f
        assert math.isclose(result.estimates[f"sigma:{k}"], np.sqrt(np.mean(e**2)),
                            rel_tol=1e-3), k
    # Asymmetric interval on the physical scale for a log parameter.
    est, lo, hi = (d["nfl_release"] for d in (result.estimates, result.ci_low, result.ci_high))
    assert math.isclose(math.log(est) - math.log(lo), math.log(hi) - math.log(est), rel_tol=1e-9)


def test_mouse_recovery_and_one_compilation(human, traces):
    del human  # the human fit, same shapes, traced and compiled the multistart program
    # Made and fitted under another preset version than the human fit's: the version is a
    # label of the data; its presets' values are arrays, which the program takes.
    version = BEFORE_REVISION_9
    data = make_data(synthetic(MOUSE_TRUTH, seed=1, species="mouse", preset_version=version),
                     preset_version=version)
    result = fit(data, ESTIMATE, **SETTINGS)
    assert result.converged and result.data.preset_version == version
    _check_recovery(result, MOUSE_TRUTH)
    # The mouse fit has the human fit's shapes: its multistart program was not traced
    # (nor compiled) again.
    assert traces("_advance_starts") == 0


def test_a_start_stopped_at_a_bound_is_run_on_from_inside(human):
    """The bounds map z to stored values through a logistic whose slope vanishes at the
    ends, so every start put deep at nfl_release's lower bound (z = -15, 3e-7 of the range
    in), where the objective still falls inward, stops there on a flattened gradient.
    The fit runs the best point on from inside and reaches the multistart fit's optimum
    (the same program: the human fixture's shapes). Before, it reported the bound."""
    reference, data = human
    pb, names, _ = make_problem(data, ESTIMATE, bounds=BOUNDS)
    z = np.array(to_z(jnp.asarray([reference.stored[n] for n in names]), pb))
    z[names.index("nfl_release")] = -15.0
    result = fit(data, ESTIMATE, **dict(SETTINGS, starts=np.repeat(z[None], 4, axis=0)))
    assert "bound retry" in result.timings and result.converged
    assert not any(result.diagnostics.at_bound.values())
    # The same optimum: the objective to 1e-6, each estimate to 1 % of its standard error
    # (the optimiser stops on the objective's change, where the optimum is flat).
    assert result.objective == pytest.approx(reference.objective, abs=1e-6)
    for n in ESTIMATE:
        assert abs(result.estimates[n] - reference.estimates[n]) < 0.01 * reference.std_errors[n]
    best = int(np.argmin(result.start_objectives))  # the table shows where it ended
    assert result.start_objectives[best] == result.objective


def test_a_row_below_its_limit_leaves_the_objective_that_of_the_point(human):
    """A row below its quantification limit makes the closed form of its observable's
    noise SD inexact (its term log Phi((lloq - f) / s) cannot be rescaled). The fit's
    objective is still the objective at the point it returns, as `objective` computes it
    apart from the optimiser's bookkeeping (to 1e-9), and a profile finds no point
    below it. Before, the optimiser mixed two SDs: on a file with one such row it
    reported 223.37 where the objective at its point was 227.35. (The human fixture's
    shapes, one NfL row's value moved below a limit: the same compiled programs.)"""
    _, data = human
    df = synthetic(HUMAN_TRUTH, seed=0)
    i = int(np.flatnonzero(df["observable"] == "nfl")[3])
    # Below a limit well under the course (a sample lost in the assay's noise): its term
    # then moves with the SD, as the file's did.
    df.loc[i, "lloq"] = 0.5 * df.loc[i, "value"]
    df.loc[i, "value"] = 0.3 * df.loc[i, "value"]
    censored = make_data(df)
    assert int(np.asarray(censored.censored).sum()) == 1
    result = fit(censored, ESTIMATE, **SETTINGS)
    z = to_z(jnp.asarray(result.theta), result.problem)
    assert result.objective == pytest.approx(float(objective(z, result.problem)), rel=1e-9)
    prof = profile(result, "nfl_release", points=4, span=2.5)
    assert prof.note == "" and np.all(prof.objective >= result.objective - 1e-6)


def test_laplace_intervals_stop_at_the_bounds(human):
    """A Laplace interval that would run past a bound is cut there (the model is not
    defined past it: a rate below 0); the other end is the usual estimate x exp(1.96 SE)
    on the log scale. nfl_release's lower bound put 5 % below its estimate, inside the
    interval (the same program: bounds are arrays)."""
    reference, data = human
    est = reference.estimates["nfl_release"]
    bounds = dict(BOUNDS, nfl_release=(est / 1.05, est * 1.5))
    result = fit(data, ESTIMATE, **dict(SETTINGS, bounds=bounds))
    assert not result.diagnostics.at_bound["nfl_release"]
    e, se = result.estimates["nfl_release"], result.stored_std_errors["nfl_release"]
    assert e * math.exp(-1.96 * se) < result.lower["nfl_release"]  # past the bound, uncut
    assert result.ci_low["nfl_release"] == pytest.approx(result.lower["nfl_release"], rel=1e-12)
    assert result.ci_high["nfl_release"] == pytest.approx(e * math.exp(1.96 * se), rel=1e-12)


def test_failed_start_is_tolerated():
    # A death rate of about 1000/day is too stiff to solve before revision 9, not after.
    version = BEFORE_REVISION_9
    data = make_data(synthetic(HUMAN_TRUTH, seed=0, preset_version=version),
                     preset_version=version)
    bounds = dict(BOUNDS, apoptotic_death_rate=(0.002, 1000.0))
    pb, _, _ = make_problem(data, ESTIMATE, bounds=bounds, max_steps=60)
    good = np.asarray(jax.vmap(lambda t: to_z(t, pb))(jnp.asarray(
        [[math.log(0.006), math.log(2000.0), math.log(2.0), math.log(0.1)],
         [math.log(0.012), math.log(4000.0), math.log(2.0), math.log(0.1)]])))
    bad = good[:1].copy()
    bad[0, 0] = 12.0  # death rate ~1000/day: the stiff solve exceeds max_steps
    starts = np.concatenate([good, bad, good[1:]])
    result = fit(data, ESTIMATE, **dict(SETTINGS, bounds=bounds), starts=starts)
    assert result.start_failed.tolist() == [False, False, True, False]
    assert not result.start_converged[2]
    _check_recovery(result, HUMAN_TRUTH)


@pytest.mark.parametrize("optimiser,tol", [("lbfgs", REL_TOL), ("adam", 0.2)])
def test_optax_optimisers_recover(human, optimiser, tol, traces):
    _, data = human
    kwargs = dict(SETTINGS, optimiser=optimiser, n_starts=2,
                  max_steps=60 if optimiser == "lbfgs" else 150)
    result = fit(data, ESTIMATE, **kwargs)
    for name, true in HUMAN_TRUTH.items():
        assert abs(result.estimates[name] - true) / true < tol, (name, result.estimates[name])
    # One trace of the chunked multistart program served every chunk of every start
    # (and any refinement).
    assert traces("_advance_starts") == 1


def test_fit_gradient_matches_finite_differences(human):
    """The gradient the optimisers use (forward mode through the solver) against central
    differences of the objective, at a point away from the optimum."""
    _, data = human
    pb, _, _ = make_problem(data, ESTIMATE, bounds=BOUNDS, max_steps=60)
    z = jnp.asarray(sobol_starts(1, pb, seed=3)[0])
    h = 1e-5
    pts = jnp.concatenate([z[None], z[None] + h * jnp.eye(4), z[None] - h * jnp.eye(4)])
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(objective), in_axes=(0, None)))(pts, pb)
    fd = (values[1:5] - values[5:]) / (2 * h)
    # At the solver's rtol 1e-6 the differences also pick up how the discretisation error
    # moves with the parameters: 3.6e-4 (relative) from the forward gradient on
    # 2026-12-02, 3.7e-6 of the largest component since the event clocks' fix (measured
    # 2026-12-05; 1e-9 at rtol 1e-10, the test below). Hence 4e-5 of the largest, and
    # 1e-4 of each component.
    np.testing.assert_allclose(grads[0], fd, rtol=1e-4, atol=4e-5 * float(jnp.abs(fd).max()))


def test_tight_tolerances_reach_the_objective_and_its_gradient(human):
    """`rtol`/`atol` reach the solves of the objective and its forward gradient: at 1e-10
    the gradient meets central differences to 1e-9 of its largest component (measured
    2026-12-05; 3.7e-6 at the defaults, where the discretisation error moves with the
    parameters), so a bound of 1e-7 holds only if the tight tolerances were used."""
    _, data = human
    pb, _, _ = make_problem(data, ESTIMATE, bounds=BOUNDS, max_steps=60, rtol=1e-10, atol=1e-13)
    assert pb.tolerances == (1e-10, 1e-13)
    z = jnp.asarray(sobol_starts(1, pb, seed=3)[0])
    h = 1e-5
    pts = jnp.concatenate([z[None], z[None] + h * jnp.eye(4), z[None] - h * jnp.eye(4)])
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(objective), in_axes=(0, None)))(pts, pb)
    fd = (values[1:5] - values[5:]) / (2 * h)
    np.testing.assert_allclose(grads[0], fd, rtol=0, atol=1e-7 * float(jnp.abs(fd).max()))


def _calibration(human, seeds):
    """z-scores (estimate - truth) / SE over refits of fresh noise realisations."""
    zs = []
    for seed in seeds:
        data = make_data(synthetic(HUMAN_TRUTH, seed=seed))
        r = fit(data, ESTIMATE, **SETTINGS)
        for name, true in HUMAN_TRUTH.items():
            zs.append((r.stored[name] - math.log(true)) / r.stored_std_errors[name])
    return np.asarray(zs)


def test_se_calibration_small(human):
    """Laplace SEs vs the spread over 3 refits (6 z-scores): mean z^2 follows chi2_6 / 6,
    whose 99.8% range is [0.06, 3.3]."""
    z = _calibration(human, seeds=(11, 12, 13))
    assert 0.06 < np.mean(z**2) < 3.3, z


@pytest.mark.slow
def test_se_calibration_large(human):
    """20 refits: mean z^2 ~ chi2_40 / 40, 99% range [0.52, 1.66]."""
    z = _calibration(human, seeds=range(100, 120))
    assert 0.52 < np.mean(z**2) < 1.66, z


def test_profile_likelihood(human):
    """Four grid points (one compiled batch with the fit) at +-2.5 SE: the LR interval
    brackets the estimate and its width agrees with the Laplace interval (a quadratic
    profile, interpolated linearly, gives about 1.8 SE on each side instead of 1.96)."""
    result, _ = human
    prof = profile(result, "nfl_release", points=4, span=2.5)
    assert np.all(np.isfinite(prof.objective)) and np.all(prof.objective >= prof.best - 1e-6)
    assert prof.ci_low < result.estimates["nfl_release"] < prof.ci_high
    lr = math.log(prof.ci_high) - math.log(prof.ci_low)
    laplace = math.log(result.ci_high["nfl_release"]) - math.log(result.ci_low["nfl_release"])
    assert 0.75 < lr / laplace < 1.25, (lr, laplace)
    assert prof.note == ""
    # A fit that stopped short of its optimum (recorded 1 above it): the profile, whose
    # points reach lower, says so (the same grid and program).
    short = dataclasses.replace(result, objective=result.objective + 1.0)
    with pytest.warns(alsjax.FitWarning, match="below the fit's optimum"):
        prof = profile(short, "nfl_release", points=4, span=2.5)
    # Its best grid point, 0.83 SE from the optimum, lies about 0.35 above it.
    assert "the fit stopped short" in prof.note and prof.best < short.objective - 0.5


@pytest.mark.slow
def test_nuts_posterior(human):
    result, _ = human
    samples = sample_posterior(result, num_samples=200, num_warmup=200)
    for name, true in HUMAN_TRUTH.items():
        s = samples[name]
        assert np.quantile(s, 0.005) < true < np.quantile(s, 0.995)
        sd_log = np.std(np.log(s))
        assert 0.5 < sd_log / result.stored_std_errors[name] < 2.0


def test_bad_choices_raise_one_line(human):
    from alsjax import ALSJaxError

    _, data = human
    for kwargs, words in [
        (dict(estimate=["apoptotic_death_rat"]), "did you mean 'apoptotic_death_rate'"),
        (dict(estimate=ESTIMATE, optimiser="newton"), "unknown optimiser"),
        (dict(estimate=ESTIMATE, noise="poisson"), "noise: expected 'gaussian' or"),
        (dict(estimate=ESTIMATE, noise={"nfll": "lognormal"}), "unknown observable 'nfll'"),
        (dict(estimate=ESTIMATE, noise={"nfl": "normal"}), "noise.nfl: expected"),
        (dict(estimate=ESTIMATE, bounds={"nfl_release": (10.0, 1.0)}), "bounds of nfl_release"),
        (dict(estimate=ESTIMATE, priors={"clearance_rate": (0.02, 2.0)}), "not among"),
        (dict(estimate=ESTIMATE, rtol=0.0), "rtol must be a finite number > 0, got 0.0"),
        (dict(estimate=ESTIMATE, atol=float("nan")), "atol must be a finite number > 0"),
        (dict(estimate=ESTIMATE, rtol="1e-8"), "rtol must be a finite number > 0, got '1e-8'"),
    ]:
        with pytest.raises(ALSJaxError, match=words) as e:
            make_problem(data, **kwargs)
        assert "\n" not in str(e.value)


def test_priors_are_log_normal_whatever_the_storage(human):
    """A prior { median, gsd } is log-normal on the physical value, as documented, for a
    log-stored rate and a plain-stored genotype drive alike: a value one GSD above the
    median is one SD above it (prior residual 1), one GSD below is -1 (closed form). The
    drive's prior used to be normal on the value with the GSD as its SD, so a drive of
    0.003 with "gsd = 3" had a flat prior. A drive's median must be positive."""
    from alsjax import ALSJaxError
    from alsjax._problem import prior_residuals

    _, data = human
    pb, names, _ = make_problem(data, ["apoptotic_death_rate", "mutant_sod1"],
                                priors={"apoptotic_death_rate": (0.01, 2.0),
                                        "mutant_sod1": (0.003, 3.0)})
    for rate, drive, expected in ((0.02, 0.009, 1.0), (0.005, 0.001, -1.0)):
        theta = jnp.zeros(len(names)).at[0].set(math.log(rate)).at[1].set(drive)
        r = np.asarray(prior_residuals(theta, pb))
        np.testing.assert_allclose(r[:2], [expected, expected], rtol=1e-12)
        assert np.all(r[2:] == 0.0)  # noise SDs have no prior
    with pytest.raises(ALSJaxError, match="prior of mutant_sod1: median must be > 0"):
        make_problem(data, ["mutant_sod1"], priors={"mutant_sod1": (0.0, 3.0)})


def test_respiratory_vulnerability_is_recovered_from_fvc():
    """Revision 5's parameter is identifiable from the data that separate the two pools:
    the default layout with FVC (additive noise, SD 3 % of predicted) in place of NfL,
    simulated with a respiratory pool half as vulnerable as the limb pool, gives back
    both the pace and the vulnerability (`_check_recovery`: within 15 % and inside the
    95 % interval; data seed fixed in advance). The other parameters are those of preset
    version 2026.12.4, for which the layout and the gap below were chosen."""
    truth = {"apoptotic_death_rate": 0.009, "respiratory_vulnerability": 0.5}
    version = "2026.12.4"
    df = synthetic(HUMAN_TRUTH, seed=0)
    df = df.assign(observable=df["observable"].replace({"nfl": "fvc"}))
    p = alsjax.default_params(preset_version=version).replace(**truth)
    ts = np.unique(df["time"].to_numpy(float))
    sol = alsjax.simulate(p, jnp.asarray(ts))
    rng = np.random.default_rng(2)
    noise = {"alsfrs_r": 1.0, "fvc": 3.0}
    df["value"] = [float(np.asarray(sol.observables[k])[np.searchsorted(ts, t)])
                   + noise[k] * rng.normal() for t, k in zip(df["time"], df["observable"],
                                                              strict=True)]
    bounds = {"apoptotic_death_rate": (0.002, 0.03), "respiratory_vulnerability": (0.2, 5.0)}
    result = fit(make_data(df, preset_version=version), tuple(truth),
                 **dict(SETTINGS, bounds=bounds))
    assert result.converged
    _check_recovery(result, truth)
    # FVC carried the information: at vulnerability 1 (the limb pool) FVC would have
    # been lower than observed by far more than its noise at the last visits.
    one = alsjax.simulate(p.replace(respiratory_vulnerability=1.0), jnp.asarray(ts))
    gap = np.asarray(one.observables["fvc"]) - np.asarray(sol.observables["fvc"])
    assert float(gap.min()) < -30


def test_shift_starts_put_the_first_alsfrs_r_on_the_course():
    """With fitted shifts, every start places each arm's first ALSFRS-R value on that
    start's own model course: a separate solve (`simulate`, rtol 1e-8) at the model day
    the likelihood maps that measurement to gives the measured value, within 0.05 points
    (the placement interpolates a 512-point grid over 20 years of a course falling about
    a point a month). Uniform shifts put most starts' arms on the flat ALSFRS-R 48 before
    onset instead (docs/validation.md, item 8). Shifts fitted for two arms only: the
    third subject (a survival curve whose day 0 is onset) keeps offset 0 at every start."""
    from alsjax._likelihood import shifts
    from alsjax._problem import to_stored, unpack

    root = Path(__file__).resolve().parent.parent
    frame = alsjax.read_measurements(root / "fit" / "published" / "data"
                                     / "human_pace_and_survival.csv")
    data = make_data(frame, align="onset", preset_version="2026.12")
    arms = ["mci186_19_placebo", "centaur_placebo"]
    bounds = {"apoptotic_death_rate": (0.0007, 0.07), "motor_reserve": (0.394, 0.913)}
    pb, names, _ = make_problem(data, tuple(bounds), bounds=bounds, fit_shifts=arms)
    assert names[2:] == tuple(f"shift:{s}" for s in arms) and pb.n_shift == 2
    cohort = data.subjects.index("onset_cohort")
    first = {s: g.sort_values("time").iloc[0] for s, g in
             frame[frame.observable == "alsfrs_r"].groupby("subject")}
    for z in sobol_starts(4, pb, seed=0):
        theta = to_stored(jnp.asarray(z), pb)
        params, _, offset = unpack(theta, pb)
        assert float(offset[cohort]) == 0.0
        model_day = np.asarray(shifts(params, data, offset))
        for subject in arms:
            s = data.subjects.index(subject)
            row = first[subject]
            p = jax.tree.map(lambda a, s=s: a[s], params)
            day = float(model_day[s] + row.time)
            sol = alsjax.simulate(p, jnp.asarray([day]), rtol=1e-8, atol=1e-10)
            assert abs(float(sol.observables["alsfrs_r"][0]) - row.value) < 0.05, (
                subject, day, float(sol.observables["alsfrs_r"][0]), row.value)
    # fit_shifts=True: a shift for every subject, in the data's order.
    _, names, _ = make_problem(data, tuple(bounds), bounds=bounds, fit_shifts=True)
    assert names[2:] == tuple(f"shift:{s}" for s in data.subjects)


def test_arms_of_one_trial_share_a_shift():
    """An item of `fit_shifts` that is a list gives its subjects one shift: at any point
    each gets exactly the offset a separate shift per subject, set to the same value,
    gives it, and the subject outside every group keeps offset 0. Its starts are placed
    by the group's subject with ALSFRS-R rows, even when listed after one without."""
    from alsjax._problem import to_stored, unpack

    root = Path(__file__).resolve().parent.parent
    frame = alsjax.read_measurements(root / "fit" / "published" / "data"
                                     / "human_pace_and_survival.csv")
    data = make_data(frame, align="onset", preset_version="2026.12")
    arms = ["mci186_19_placebo", "centaur_placebo"]
    est = ("motor_reserve",)
    shared, names, _ = make_problem(data, est, fit_shifts=[arms])
    apart, _, _ = make_problem(data, est, fit_shifts=arms)
    ordered = sorted(arms, key=data.subjects.index)
    assert names[1:] == ("shift:" + "+".join(ordered),) and shared.n_shift == 1
    cohort = data.subjects.index("onset_cohort")
    for z in np.random.default_rng(0).normal(size=(3, shared.size)):
        theta = to_stored(jnp.asarray(z), shared)
        offset = np.asarray(unpack(theta, shared)[2])
        day = float(theta[1])
        both = jnp.concatenate([theta[:1], jnp.asarray([day, day]), theta[2:]])
        np.testing.assert_array_equal(offset, np.asarray(unpack(both, apart)[2]))
        assert offset[cohort] == 0.0 and offset[data.subjects.index(arms[0])] == day
    # The survival cohort has no ALSFRS-R rows: listed first, it does not place the starts.
    mixed, names, _ = make_problem(data, est, fit_shifts=[["onset_cohort", arms[1]]])
    assert mixed.shift_subjects == (data.subjects.index(arms[1]),)
    assert names[1] == "shift:" + "+".join(sorted(["onset_cohort", arms[1]],
                                                   key=data.subjects.index))


@pytest.mark.parametrize("fit_shifts, words", [
    (["nobody"], "fit_shifts: no subject 'nobody' in the data"),
    (["centaur_placebo", "centaur_placebo"], "fit_shifts: a subject is named twice"),
    ([], "fit_shifts: name at least one subject"),
    ([["centaur_placebo"], "centaur_placebo"], "fit_shifts: a subject is named twice"),
    ([[]], "fit_shifts: name at least one subject in each item"),
])
def test_bad_fit_shifts(fit_shifts, words):
    root = Path(__file__).resolve().parent.parent
    frame = alsjax.read_measurements(root / "fit" / "published" / "data"
                                     / "human_placebo_alsfrs.csv")
    data = make_data(frame, align="onset")
    with pytest.raises(alsjax.ALSJaxError, match=re.escape(words)):
        make_problem(data, ("motor_reserve",), fit_shifts=fit_shifts)


@pytest.mark.parametrize("points", [3, 201])
def test_profile_interval_closed_form(points):
    """A quadratic profile, -log L = (x - 2)^2 / (2 * 0.5^2), has the 95 % LR interval
    2 -+ 1.96 * 0.5 (closed form). On 201 points linear interpolation is within 1e-3 of it;
    on 3 coarse points (0, 4, 8, the optimum between the first two, both beyond the
    threshold) it lies between the optimum and its neighbours (before the optimum was a
    point of the profile, this gave no lower end and an upper end of 0, below the
    estimate)."""
    from alsjax._uncertainty import profile_interval

    x = np.linspace(0.0, 4.0, 201) if points == 201 else np.array([0.0, 4.0, 8.0])
    lo, hi = profile_interval(x, (x - 2.0) ** 2 / 0.5, 2.0, 0.0)
    half = 1.959964 * 0.5
    if points == 201:
        assert abs(lo - (2 - half)) < 1e-3 and abs(hi - (2 + half)) < 1e-3, (lo, hi)
    else:
        assert 0.0 < lo < 2.0 < hi < 4.0, (lo, hi)


def test_covariance_keeps_identified_parameters_beside_an_unidentified_one():
    """A Fisher information with one uninformed direction: the parameters orthogonal to it
    keep the inverse of their own block (closed form), those in it get infinite variance.
    Rotated so that the null direction mixes all three, every variance is infinite. (The
    riluzole recipe under preset 2026.12.6, where efficacy above 0.3 changes nothing, had
    reported an infinite SE for the well-profiled stage at entry too.)"""
    from alsjax._uncertainty import covariance

    block = np.array([[4.0, 1.0], [1.0, 3.0]])
    F = np.zeros((3, 3))
    F[:2, :2] = block
    F[2, :2] = F[:2, 2] = 1e-200  # rounding-sized coupling to the uninformed parameter
    cov = covariance(F)
    np.testing.assert_allclose(cov[:2, :2], np.linalg.inv(block), rtol=1e-12)
    assert np.isinf(cov[2, 2])
    assert np.all(np.isnan(cov[2, :2])) and np.all(np.isnan(cov[:2, 2]))
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    mixed = covariance(Q @ np.diag([5.0, 2.0, 0.0]) @ Q.T)
    assert np.all(np.isinf(np.diag(mixed)))
    full = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 3.0]])
    np.testing.assert_allclose(covariance(full), np.linalg.inv(full), rtol=1e-12, atol=1e-14)


MIXED_CSV = """subject,time,observable,value,n,sigma
a,1700,death,1,,0.2
a,300,alsfrs_r,40,,
a,700,alsfrs_r,33,,
a,500,nfl,80,,
b,200,alsfrs_r,44,,
b,900,alsfrs_r,30,,
b,600,nfl,60,,
"""


def test_starts_evaluated_together_as_each_alone(tmp_path, monkeypatch):
    """The LM fit evaluates its starts' trial points as one cohort of every start's
    subjects (`_optimise._lm_evaluate_starts`, `_problem.terms_of_sets`), a small problem
    with a copy of each start per Jacobian column, a larger one with a `vmap` over the
    columns. Both against each start evaluated alone (`_lm_evaluate`), on onset-aligned
    data with an observed death, a fitted shift and two estimated noise SDs, each start at
    its own point: residuals, Jacobian, objective and closed-form noise SDs to 1e-9
    relative (two compiled programs round differently: 3e-11 in a Jacobian with arm
    curves)."""
    from alsjax import _optimise
    from alsjax._problem import to_stored

    path = tmp_path / "mixed.csv"
    path.write_text(MIXED_CSV)
    data = make_data(alsjax.read_measurements(path), align="onset")
    pb, _, _ = make_problem(data, ["apoptotic_death_rate", "riluzole_efficacy"],
                            fit_shifts=["a"], noise={"alsfrs_r": "gaussian",
                                                     "nfl": "lognormal"})
    nf, G = pb.n_fit, 3
    z = jnp.asarray(np.random.default_rng(3).normal(0.0, 0.7, (G, pb.size)))
    sd = jax.vmap(to_stored, in_axes=(0, None))(z, pb)[:, nf:]
    fixed = jnp.zeros(nf, bool)
    alone = jax.jit(lambda z, sd: _optimise._lm_evaluate(z, sd, pb, fixed, z))
    each = [alone(z[g, :nf], sd[g]) for g in range(G)]
    assert all(np.isfinite(float(one[2])) for one in each)  # every solve succeeded
    for limit in (32, 0):  # columns from copies of the starts; from a vmap
        monkeypatch.setattr(_optimise, "QUICK_TRAJECTORIES", limit)
        together = jax.jit(lambda z, sd: _optimise._lm_evaluate_starts(z, sd, pb, fixed, z))(
            z[:, :nf], sd)
        for g, one in enumerate(each):
            for a, b in zip(together, one, strict=True):
                b = np.asarray(b)
                np.testing.assert_allclose(np.asarray(a)[g], b, rtol=1e-9,
                                           atol=1e-9 * np.abs(b).max())
    # The starts differ, so a mix-up of rows would show.
    assert np.abs(np.asarray(together[0][0] - together[0][1])).max() > 1e-3
