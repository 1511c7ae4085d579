"""The log-likelihood: every term against scipy.stats, jit/vmap/grad against finite
differences, failures as -inf with a finite gradient, and the padded data layout."""

import dataclasses
import math

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import alsjax
from alsjax._cohort import BATCH_MIN_SUBJECTS
from alsjax._likelihood import (
    ARM_EVENT_SD,
    EVENT_SD,
    _arm_curve_terms,
    likelihood_terms,
    log_likelihood,
    predictions,
    shifts,
)
from alsjax._noise import noise_models

from _fit_helpers import BEFORE_REVISION_9

make_data = alsjax.make_data


def _frame(rows):
    df = pd.DataFrame(rows)
    df.insert(0, "row", np.arange(len(df)) + 2)
    for c, v in dict(sigma=np.nan, genotype="sporadic", species="human", therapy="",
                     therapy_start=np.nan, n=np.nan, lloq=np.nan).items():
        if c not in df.columns:
            df[c] = v
    df["kind"] = np.where(df["observable"].isin(alsjax.EVENT_NAMES), "event",
                          np.where(df["n"].notna(), "summary", "measurement"))
    return df


ROWS = [
    dict(subject="a", time=900.0, observable="nfl", value=40.0),
    dict(subject="a", time=300.0, observable="alsfrs_r", value=47.0),
    dict(subject="a", time=1200.0, observable="nfl", value=12.0, lloq=15.0),  # censored
    dict(subject="a", time=1700.0, observable="death", value=1.0),
    dict(subject="b", time=1000.0, observable="alsfrs_r", value=44.0, sigma=0.5, n=30.0),
    dict(subject="b", time=600.0, observable="nfl", value=25.0, sigma=3.0),
    dict(subject="b", time=1500.0, observable="death", value=0.0),  # censored
]


def test_layout_sorts_pads_and_aligns():
    df = _frame(ROWS)
    d = make_data(df)
    assert d.subjects == ("a", "b") and d.times.shape == (2, 3) and d.event_time.shape == (2, 1)
    np.testing.assert_array_equal(d.times[0], [300.0, 900.0, 1200.0])
    np.testing.assert_array_equal(d.times[1], [600.0, 1000.0, 1000.0])  # padded: last time
    np.testing.assert_array_equal(d.mask, [[True, True, True], [True, True, False]])
    np.testing.assert_array_equal(d.row_index, [[1, 0, 2], [5, 4, -1]])
    np.testing.assert_array_equal(d.censored, [[False, False, True], [False, False, False]])
    np.testing.assert_array_equal(d.summary[1], [False, True, False])
    assert not d.any_onset and make_data(df, align="onset").any_onset


def test_terms_match_scipy():
    """Log-normal noise, an LLOQ-censored row, an arm summary (SE, linear scale), given and
    estimated SDs, an observed and a censored event: each term by scipy.stats. Called
    outside `jax.jit` (each public function compiles one program of its own; jit, vmap and
    grad around them are tested below)."""
    df = _frame(ROWS)
    d = make_data(df)
    p = alsjax.default_params()
    sd = jnp.asarray([0.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1])
    ll = log_likelihood(p, d, noise="lognormal", sigma=sd)
    f, T, _ = predictions(p, d)
    f, T = np.asarray(f), np.asarray(T)
    ref = 0.0
    ref += stats.norm.logpdf(np.log(47.0), np.log(f[0, 0]), 0.2) - np.log(47.0)  # alsfrs
    ref += stats.norm.logpdf(np.log(40.0), np.log(f[0, 1]), 0.3) - np.log(40.0)  # nfl
    ref += stats.norm.logcdf((np.log(15.0) - np.log(f[0, 2])) / 0.3)  # below lloq
    ref += stats.norm.logpdf(np.log(25.0), np.log(f[1, 0]), 3.0 / 25.0) - np.log(25.0)
    ref += stats.norm.logpdf(44.0, f[1, 1], 0.5)  # summary row: SE on the linear scale
    ref += stats.norm.logpdf(np.log(1700.0), np.log(T[0, 0]), EVENT_SD) - np.log(1700.0)
    ref += stats.norm.logsf((np.log(1500.0) - np.log(T[1, 0])) / EVENT_SD)
    assert math.isclose(float(ll), ref, rel_tol=1e-10), (float(ll), ref)
    assert 1000.0 < T[0, 0] < 3000.0  # the preset's death day, days from the cascade start


def test_jit_vmap_grad_against_finite_differences_and_failure():
    """jit(vmap(value_and_grad)) of the public function (reverse mode, default adjoint,
    default mixed noise) over parameter points; central differences from the same batch;
    a failing solve (death rate 1000/day is too stiff for max_steps) gives -inf and a
    finite gradient.

    Tight solver tolerances (rtol 1e-10): at the default rtol 1e-6 the adaptive step
    grid's jitter moves the death event's time, and central differences of it, by up to
    1% between h = 1e-3 and 1e-4 in the death-rate direction, so differences at the
    default would test the grid, not the gradient. On preset 2026.12.7, where that death
    rate fails; revision 9's model (2026.12.8) solves it."""
    d = make_data(_frame(ROWS), preset_version=BEFORE_REVISION_9)
    base = alsjax.default_params(preset_version=BEFORE_REVISION_9)

    def ll(x):
        p = base.replace(apoptotic_death_rate=jnp.exp(x[0]), nfl_release=jnp.exp(x[1]))
        # default noise: NfL rows log-normal, ALSFRS-R Gaussian
        return log_likelihood(p, d, tolerances=(1e-10, 1e-12))

    x0 = jnp.asarray([math.log(0.007), math.log(2000.0)])
    # h = 1e-3: the O(h^2) truncation error is below the 1e-4 tolerance.
    h = 1e-3
    pts = jnp.concatenate([x0[None], x0[None] + h * jnp.eye(2), x0[None] - h * jnp.eye(2),
                           jnp.asarray([[math.log(1000.0), math.log(2000.0)]])])
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(ll)))(pts)
    fd = (values[1:3] - values[3:5]) / (2 * h)
    np.testing.assert_allclose(grads[0], fd, rtol=1e-4)
    assert values[-1] == -jnp.inf and bool(jnp.all(jnp.isfinite(grads[-1])))


# Same padded shape as ROWS (2 subjects x 3 slots), so both tests share one compiled solve.
MIXED_ROWS = [
    dict(subject="a", time=300.0, observable="alsfrs_r", value=47.0),
    dict(subject="a", time=900.0, observable="nfl", value=40.0),
    dict(subject="a", time=1100.0, observable="fvc", value=88.0),
    dict(subject="b", time=600.0, observable="nfl", value=25.0, sigma=3.0),
    dict(subject="b", time=800.0, observable="alsfrs_r", value=44.0, sigma=0.8),
    dict(subject="b", time=1200.0, observable="nfl", value=12.0, lloq=15.0),  # censored
]


def test_mixed_noise_matches_scipy():
    """Per-observable noise models: the default (ALSFRS-R and FVC Gaussian, NfL
    log-normal) and a mapping that flips NfL and FVC, each the sum of per-row densities
    from scipy.stats (norm for Gaussian rows, lognorm for log-normal rows, their CDFs for
    the row below the LLOQ). Un-jitted, so both calls reuse one compiled solve."""
    d = make_data(_frame(MIXED_ROWS))
    p = alsjax.default_params()
    f = np.asarray(predictions(p, d)[0])  # slots: a: alsfrs, nfl, fvc; b: nfl, alsfrs, nfl
    sd = np.asarray([1.5, 0.2, 0.1, 0.1, 4.0, 5.0, 0.3])  # alsfrs SD, nfl CV, ..., fvc SD
    ll = log_likelihood(p, d, sigma=jnp.asarray(sd))
    ref = (stats.norm.logpdf(47.0, f[0, 0], 1.5)
           + stats.lognorm.logpdf(40.0, s=0.2, scale=f[0, 1])
           + stats.norm.logpdf(88.0, f[0, 2], 4.0)
           + stats.lognorm.logpdf(25.0, s=3.0 / 25.0, scale=f[1, 0])  # own SD -> CV
           + stats.norm.logpdf(44.0, f[1, 1], 0.8)
           + stats.lognorm.logcdf(15.0, s=0.2, scale=f[1, 2]))
    assert math.isclose(float(ll), ref, rel_tol=1e-10), (float(ll), ref)

    flipped = {"nfl": "gaussian", "fvc": "lognormal"}
    sd2 = np.asarray([1.5, 6.0, 0.1, 0.1, 0.05, 5.0, 0.3])  # nfl SD, fvc CV
    ll2 = log_likelihood(p, d, noise=flipped, sigma=jnp.asarray(sd2))
    ref2 = (stats.norm.logpdf(47.0, f[0, 0], 1.5)
            + stats.norm.logpdf(40.0, f[0, 1], 6.0)
            + stats.lognorm.logpdf(88.0, s=0.05, scale=f[0, 2])
            + stats.norm.logpdf(25.0, f[1, 0], 3.0)
            + stats.norm.logpdf(44.0, f[1, 1], 0.8)
            + stats.norm.logcdf(15.0, f[1, 2], 6.0))
    assert math.isclose(float(ll2), ref2, rel_tol=1e-10), (float(ll2), ref2)


def test_adjoints_that_cannot_be_hashed_are_accepted():
    """An adjoint is part of the compiled program's key; `BacksolveAdjoint` holds a dict
    (unhashable), and is passed as a pytree instead. Traced only (jax.eval_shape): the
    call is what is checked, not a solve."""
    import diffrax

    d = make_data(_frame(ROWS))
    out = jax.eval_shape(lambda p: log_likelihood(p, d, adjoint=diffrax.BacksolveAdjoint()),
                         alsjax.default_params())
    assert out.shape == () and out.dtype == jnp.float64


def test_noise_spec_forms():
    """None = the documented per-observable table; a string covers all; a mapping
    overrides only what it names; the result is a hashable tuple (a static choice)."""
    names = alsjax.OBSERVABLE_NAMES
    default = noise_models(None)
    assert dict(zip(names, default, strict=True)) == alsjax.DEFAULT_NOISE_MODEL
    assert alsjax.DEFAULT_NOISE_MODEL["nfl"] == "lognormal"
    assert alsjax.DEFAULT_NOISE_MODEL["alsfrs_r"] == "gaussian"
    assert noise_models("lognormal") == ("lognormal",) * len(names)
    flipped = noise_models({"alsfrs_r": "lognormal"})
    assert flipped[0] == "lognormal" and flipped[1:] == default[1:]
    assert noise_models(default) == default and hash(default) is not None


@pytest.mark.parametrize("noise,words", [
    ("poisson", "noise: expected 'gaussian' or 'lognormal', got 'poisson'"),
    ({"nfll": "lognormal"}, "unknown observable 'nfll' (did you mean 'nfl'?)"),
    ({"nfl": "log"}, "noise.nfl: expected 'gaussian' or 'lognormal', got 'log'"),
    (3, "noise: expected a model name"),
])
def test_bad_noise_model(noise, words):
    d = make_data(_frame(ROWS[:1]))
    with pytest.raises(alsjax.ALSJaxError) as e:
        log_likelihood(alsjax.default_params(), d, noise=noise)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_large_cohorts_use_simulate_batch_and_agree_with_vmap():
    """From BATCH_MIN_SUBJECTS subjects on, "auto" solves the cohort with simulate_batch
    (the lane queue); its log-likelihood and gradient match the plain vmap path to the
    solver tolerance."""
    n = BATCH_MIN_SUBJECTS
    rng = np.random.default_rng(0)
    rows = [dict(subject=f"s{i}", time=t, observable=k, value=v, genotype=g)
            for i in range(n)
            for g in [("sporadic", "SOD1")[i % 2]]
            for t, k, v in [(600.0 + 10 * i, "alsfrs_r", 46.0 + rng.normal()),
                            (1100.0, "alsfrs_r", 40.0 + rng.normal()),
                            (900.0, "nfl", 40.0 * np.exp(0.1 * rng.normal()))]]
    data = make_data(_frame(rows))
    base = data.base
    rate = base.apoptotic_death_rate

    def loglik(scale, method):
        return log_likelihood(dataclasses.replace(base, apoptotic_death_rate=rate + scale),
                              data, method=method)

    traced = {m: jax.jit(jax.value_and_grad(loglik), static_argnums=1).trace(0.1, m)
              for m in ("auto", "lanes", "vmap")}
    # "auto" chose the lane queue: the very program of method="lanes" (one compile for both).
    assert str(traced["auto"].jaxpr) == str(traced["lanes"].jaxpr)
    assert str(traced["auto"].jaxpr) != str(traced["vmap"].jaxpr)
    batched, plain = (traced[m].lower().compile()(0.1) for m in ("auto", "vmap"))
    assert np.isfinite(batched[0]) and np.isfinite(batched[1])
    assert batched[0] != plain[0]  # two different solvers ran
    np.testing.assert_allclose(batched[0], plain[0], rtol=1e-5)
    np.testing.assert_allclose(batched[1], plain[1], rtol=1e-3)


ARM_CSV = """subject,time,observable,value,n,sigma
a,1700,death,1,,0.2
placebo,365,death,0.4231,78,
riluzole,182,death,0.10,77,0.5
riluzole,365,death,0.2597,77,0.5
riluzole,548,death,0.40,77,0.5
"""


def _arm_data(tmp_path, align="onset"):
    path = tmp_path / "arms.csv"
    path.write_text(ARM_CSV)
    return make_data(alsjax.read_measurements(path), align=align)


def test_arm_curves_match_scipy_binomial_steps(tmp_path):
    """Arm summaries (survival curves) against an independent reference: for each arm,
    event days log-normal about the course's day T (data clock) with SD the row's sigma
    or ARM_EVENT_SD, each point a binomial step from the previous one (scipy.stats.binom
    with the counts n x fraction, exact here or by its continuous extension), and an
    individual event row with its own sigma; and -log L = |r|^2 / 2 + (terms free of the
    model), the identity least squares relies on."""
    d = _arm_data(tmp_path)
    np.testing.assert_array_equal(d.event_summary, [[False, False, False],
                                                    [True, False, False], [True, True, True]])
    np.testing.assert_allclose(d.event_since[2], [0.0, 182.0, 365.0])
    np.testing.assert_allclose(d.event_at_risk[2], [77.0, 77 * 0.9, 77 * (1 - 0.2597)])
    np.testing.assert_allclose(d.event_count[2], [7.7, 77 * 0.1597, 77 * (0.40 - 0.2597)])
    p = alsjax.default_params()
    ll = float(log_likelihood(p, d))
    _, T, shift = predictions(p, d)
    T = np.asarray(T)

    def binom_logpmf(k, n, q):  # scipy's binom.logpmf, extended to non-integer counts
        from scipy.special import gammaln
        return (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) + k * np.log(q)
                + (n - k) * np.log1p(-q))

    ref = stats.norm.logpdf(np.log(1700.0 + float(shift[0])), np.log(T[0, 0] + float(shift[0])),
                            0.2) - np.log(1700.0 + float(shift[0]))
    assert math.isclose(binom_logpmf(33.0, 78.0, 0.3), stats.binom.logpmf(33, 78, 0.3),
                        rel_tol=1e-12)
    for s, points, sd in [(1, [(365.0, 0.4231)], ARM_EVENT_SD),
                          (2, [(182.0, 0.10), (365.0, 0.2597), (548.0, 0.40)], 0.5)]:
        n = 78.0 if s == 1 else 77.0
        t_prev, f_prev = 0.0, 0.0
        for t, f in points:
            surv = stats.norm.cdf((np.log(T[s, 0]) - np.log(t)) / sd)
            surv_prev = 1.0 if t_prev == 0 else stats.norm.cdf((np.log(T[s, 0])
                                                                 - np.log(t_prev)) / sd)
            ref += binom_logpmf(n * (f - f_prev), n * (1 - f_prev), 1 - surv / surv_prev)
            t_prev, f_prev = t, f
    assert math.isclose(ll, ref, rel_tol=1e-10), (ll, ref)
    assert 400.0 < T[1, 0] < 3000.0  # the course's death, days after onset
    res, norm, ok = likelihood_terms(p, d)
    assert bool(ok)
    np.testing.assert_allclose(-ll, 0.5 * float(jnp.sum(res**2)) + float(norm), rtol=1e-12)


def test_arm_event_spread_is_the_parameter_of_rows_without_sigma(tmp_path):
    """`arm_event_spread` (a parameter, so a fit may estimate it) sets the spread of the
    arm whose rows give no sigma, and only that one: the change of log L from 0.7 to 0.45
    is the placebo arm's binomial log-pmf at SD 0.45 less its log-pmf at 0.7 (scipy's
    normal CDF), and its derivative in the log spread matches central differences."""
    d = _arm_data(tmp_path)
    p = alsjax.default_params()
    _, T, _ = predictions(p, d)
    T = float(np.asarray(T)[1, 0])

    def placebo(sd):  # its binomial log-pmf, with the count 78 x 0.4231 (not whole)
        q = 1 - stats.norm.cdf((math.log(T) - math.log(365.0)) / sd)
        k = 78 * 0.4231
        return k * math.log(q) + (78 - k) * math.log1p(-q)  # the rest is free of sd

    assert float(alsjax.physical(p)["arm_event_spread"]) == ARM_EVENT_SD
    def at(sd):  # log_likelihood's own program, as `predictions` above (the same solve)
        return float(log_likelihood(p.replace(arm_event_spread=sd), d))

    change = at(0.45) - at(ARM_EVENT_SD)
    assert math.isclose(change, placebo(0.45) - placebo(ARM_EVENT_SD), rel_tol=1e-9)
    ll = jax.jit(lambda x: log_likelihood(p.replace(arm_event_spread=jnp.exp(x)), d))
    h, x = 1e-4, math.log(0.45)
    fd = (float(ll(x + h)) - float(ll(x - h))) / (2 * h)
    assert math.isclose(float(jax.jit(jax.grad(ll))(x)), fd, rel_tol=1e-5)


def test_arm_curve_gradient_against_finite_differences(tmp_path):
    """jax.grad of the log-likelihood of arm curves (onset-aligned, so the onset shift is
    differentiated too) against central differences, at tight solver tolerances (as in
    the test above: at the default ones the step grid's jitter dominates differences)."""
    d = _arm_data(tmp_path)
    base = alsjax.default_params()

    def ll(x):
        p = base.replace(apoptotic_death_rate=jnp.exp(x[0]), riluzole_efficacy=x[1])
        return log_likelihood(p, d, tolerances=(1e-10, 1e-12))

    x0 = jnp.asarray([math.log(0.007), 0.2])
    h = 1e-3
    pts = jnp.concatenate([x0[None], x0[None] + h * jnp.eye(2), x0[None] - h * jnp.eye(2)])
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(ll)))(pts)
    fd = (values[1:3] - values[3:5]) / (2 * h)
    np.testing.assert_allclose(grads[0], fd, rtol=1e-4)


def test_least_squares_sees_the_whole_gradient_of_an_event_day(tmp_path):
    """An observed event's log-normal density has the Jacobian term -log t, and on
    onset-aligned data t = data day + the model's onset day moves with the parameters.
    That term rides in the residuals (`_log_day_residual`), so the normaliser no longer
    depends on the parameters and J'r, the gradient least squares (and the population's
    inner problem) uses, is the whole forward-mode gradient of -log L, to 1e-9 relative.
    The term is not negligible here: d log t / d x is above 5e-4 of the gradient."""
    d = _arm_data(tmp_path)
    base = alsjax.default_params()
    forward = diffrax.ForwardMode()

    def terms(x):  # residuals, normaliser, -log L, and log t of subject a's death (day 1700)
        p = base.replace(apoptotic_death_rate=jnp.exp(x[0]), oxidative_death_rate=x[1])
        r, norm, ok = likelihood_terms(p, d, adjoint=forward)
        log_day = jnp.log(1700.0 + shifts(p, d, adjoint=forward)[0])
        return (r, norm, 0.5 * jnp.sum(r**2) + norm, log_day), (r, ok)

    x0 = jnp.asarray([math.log(0.007), 0.003])
    (J, dnorm, grad, dlog_day), (r, ok) = jax.jit(
        jax.jacfwd(terms, has_aux=True))(x0)
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(dnorm), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(J.T @ r), np.asarray(grad), rtol=1e-9)
    assert np.all(np.abs(np.asarray(dlog_day)) > 5e-4 * np.abs(np.asarray(grad)))


def test_arm_curve_residual_is_accurate_at_its_optimum(tmp_path):
    """Near the fitted point the signed deviance residual r = sign(q_hat - q) sqrt(2 n KL)
    must keep its accuracy (least squares and the Laplace covariance read its slope
    there): against the closed form's leading term -delta sqrt(n / (q (1 - q))),
    delta = q - q_hat, to a relative 2 |delta| / q_hat + 1e-6, from delta / q = 1e-2
    down to 1e-7, where the plain formula (a difference of logs) is 1.6 % off."""
    d = _arm_data(tmp_path)
    q_hat = 0.4231
    sd = ARM_EVENT_SD
    terms = jax.jit(_arm_curve_terms)
    for rel in (1e-2, 1e-4, 1e-6, 1e-7):
        for sign in (1.0, -1.0):
            q = q_hat * (1 + sign * rel)
            z = stats.norm.ppf(1 - q)
            T = 365.0 * math.exp(z * sd)
            T_data = jnp.full(d.event_time.shape, T)
            r, _ = terms(T_data, jnp.full(d.event_time.shape, sd), d)
            q_model = 1 - stats.norm.cdf((math.log(T) - math.log(365.0)) / sd)
            delta = q_model - q_hat
            lead = -delta * math.sqrt(78.0 / (q_model * (1 - q_model)))
            assert abs(float(r[1, 0]) / lead - 1) < 2 * abs(delta) / q_hat + 1e-6, (rel, sign)


def test_fit_png_error_bars_read_sigma_as_the_likelihood_does():
    """fit.png's 95 % bars: a row's own sigma is on the linear scale, so a lognormal
    observable's row (NfL 25 pg/mL, sigma 3) spans 25 x/÷ e^(1.96 x 3/25), as the
    likelihood's log-normal of SD sigma / value gives (scipy's lognorm quantiles); a
    gaussian row, or an arm summary of a lognormal observable (sigma a standard error),
    spans value ± 1.96 sigma."""
    from alsjax._report import error_bar

    value, sigma = np.array([25.0, 25.0, 40.0]), np.array([3.0, 3.0, 0.5])
    low, high = error_bar(value, sigma, np.array([True, False, False]))
    ends = stats.lognorm(s=3.0 / 25.0, scale=25.0).ppf([0.025, 0.975])
    np.testing.assert_allclose([25.0 - low[0], 25.0 + high[0]], ends, rtol=1e-4)
    np.testing.assert_allclose(low[1:], 1.96 * sigma[1:], rtol=1e-12)
    np.testing.assert_allclose(high[1:], 1.96 * sigma[1:], rtol=1e-12)
