"""The log-likelihood: every term against scipy.stats, jit/vmap/grad against finite
differences, failures as -inf with a finite gradient, and the padded data layout."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import alsjax
from alsjax._cohort import BATCH_MIN_SUBJECTS
from alsjax._likelihood import EVENT_SD, log_likelihood, predictions
from alsjax._noise import noise_models

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
    default would test the grid, not the gradient."""
    d = make_data(_frame(ROWS))
    base = alsjax.default_params()

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
