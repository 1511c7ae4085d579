"""The log-likelihood: every term against scipy.stats, jit/vmap/grad against finite
differences, failures as -inf with a finite gradient, and the padded data layout."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import alsjax
from alsjax._likelihood import EVENT_SD, log_likelihood, make_data, predictions


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
    estimated SDs, an observed and a censored event: each term by scipy.stats."""
    df = _frame(ROWS)
    d = make_data(df)
    p = alsjax.default_params()
    sd = jnp.asarray([0.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1])
    ll, (f, T, _) = jax.jit(lambda p: (log_likelihood(p, d, noise="lognormal", sigma=sd),
                                       predictions(p, d)))(p)
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
    """jit(vmap(value_and_grad)) of the public function (reverse mode, default adjoint)
    over parameter points; central differences from the same batch; a failing solve
    (death rate 1000/day is too stiff for max_steps) gives -inf and a finite gradient."""
    d = make_data(_frame(ROWS))
    base = alsjax.default_params()

    def ll(x):
        p = base.replace(apoptotic_death_rate=jnp.exp(x[0]), nfl_release=jnp.exp(x[1]))
        return log_likelihood(p, d, noise="gaussian")

    x0 = jnp.asarray([math.log(0.007), math.log(2000.0)])
    # h = 1e-3: the adaptive grid's own jitter (rtol 1e-6) swamps smaller steps, and the
    # O(h^2) truncation error is still below the 1e-4 tolerance.
    h = 1e-3
    pts = jnp.concatenate([x0[None], x0 + h * jnp.eye(2), x0 - h * jnp.eye(2),
                           jnp.asarray([[math.log(1000.0), math.log(2000.0)]])])
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(ll)))(pts)
    fd = (values[1:3] - values[3:5]) / (2 * h)
    np.testing.assert_allclose(grads[0], fd, rtol=1e-4)
    assert values[-1] == -jnp.inf and bool(jnp.all(jnp.isfinite(grads[-1])))


def test_bad_noise_model():
    d = make_data(_frame(ROWS[:1]))
    with pytest.raises(alsjax.ALSJaxError, match="noise"):
        log_likelihood(alsjax.default_params(), d, noise="poisson")
