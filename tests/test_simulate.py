"""`simulate`: accuracy against scipy's Radau, gradients against finite differences,
jit and vmap against a Python loop, event times, therapies, failures as values, bad input.

Compilation dominates the cost, so each jitted function is built once per module.
"""

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.integrate import solve_ivp

import alsjax

TIGHT = dict(rtol=1e-10, atol=1e-12)
CASES = [(g, "human", 2500.0) for g in alsjax.GENOTYPES] + [("SOD1", "mouse", 150.0)]


TRACES: list[int] = []
_DEFAULTS = {k: v.default for k, v in inspect.signature(alsjax.simulate).parameters.items()}


def _traced_simulate(p, ts, therapy, rtol, atol, max_steps):
    TRACES.append(max_steps)  # runs once per trace, never on a cached call
    return alsjax.simulate(p, ts, therapy, rtol=rtol, atol=atol, max_steps=max_steps)


_jitted = jax.jit(_traced_simulate, static_argnames="max_steps")


def solve(p, ts, therapy=None, *, rtol=_DEFAULTS["rtol"], atol=_DEFAULTS["atol"],
          max_steps=16384):
    """`simulate` under one `jax.jit`; tolerances are traced values, so changing them
    does not recompile (only `max_steps` is static)."""
    therapy = alsjax.make_therapy() if therapy is None else therapy
    return _jitted(p, jnp.asarray(ts), therapy, jnp.asarray(rtol), jnp.asarray(atol),
                   max_steps=max_steps)


# One flat array instead of a 60-leaf pytree keeps scipy's thousands of calls cheap.
_, _unravel = ravel_pytree((alsjax.default_params(), alsjax.make_therapy()))


def _field_flat(t, y, flat):
    return alsjax.vector_field(t, y, *_unravel(flat))


_field = jax.jit(_field_flat)
_jacobian = jax.jit(jax.jacfwd(_field_flat, argnums=1))


def radau(p, ts, therapy=None):
    """The reference: scipy Radau (rtol 1e-10, atol 1e-12) on `alsjax.vector_field`.

    The integration is split at each drug's start day; within a segment the drugs that have
    started are on from its beginning, so the reference never steps over a discontinuity.
    """
    therapy = alsjax.make_therapy() if therapy is None else therapy
    on, start = np.asarray(therapy.on), np.asarray(therapy.start)
    ts = np.asarray(ts, dtype=float)
    cuts = sorted({float(s) for o, s in zip(on, start, strict=True) if o > 0 and 0 < s < ts[-1]})
    bounds = [0.0, *cuts, float(ts[-1])]
    y = np.asarray(alsjax.initial_state(p), dtype=float)
    out = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        seg = alsjax.Therapy(on=np.where(start <= a, on, 0.0), start=np.zeros_like(start))
        flat = ravel_pytree((p, seg))[0]
        last = i == len(bounds) - 2
        keep = (ts >= a) & ((ts <= b) if last else (ts < b))
        sol = solve_ivp(
            lambda t, x, flat=flat: np.asarray(_field(t, x, flat)),
            (a, b),
            y,
            method="Radau",
            t_eval=np.concatenate([ts[keep], [b]]) if not last else ts[keep],
            rtol=1e-10,
            atol=1e-12,
            jac=lambda t, x, flat=flat: np.asarray(_jacobian(t, x, flat)),
        )
        assert sol.success, sol.message
        out.append(sol.y.T[: keep.sum()])
        y = sol.y[:, -1]
    return np.concatenate(out)


def scaled_error(ys, ref):
    """Largest absolute error, each state scaled by its largest magnitude over the run."""
    scale = np.max(np.abs(ref), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return float(np.max(np.abs(np.asarray(ys) - ref) / scale))


@pytest.fixture(scope="module")
def references():
    return {
        (g, s): radau(alsjax.default_params(g, s), np.linspace(0.0, t1, 101))
        for g, s, t1 in CASES
    }


@pytest.mark.parametrize("genotype, species, t1", CASES)
def test_matches_radau(references, genotype, species, t1):
    """Tight tolerances on both sides agree to 1e-6 of each state's range; the default
    tolerances' figure is printed for docs/model.md."""
    p = alsjax.default_params(genotype, species)
    ts = jnp.linspace(0.0, t1, 101)
    none = None
    ref = references[genotype, species]
    tight = solve(p, ts, none, **TIGHT)
    default = solve(p, ts, none)
    assert bool(tight.success) and bool(default.success)
    err_tight, err_default = scaled_error(tight.ys, ref), scaled_error(default.ys, ref)
    print(f"{genotype}/{species}: tight {err_tight:.2e} ({int(tight.num_steps)} steps), "
          f"default {err_default:.2e} ({int(default.num_steps)} steps)")
    assert err_tight < 1e-6
    assert err_default < 1e-3  # the default tolerances are for fitting, not for reference


def test_therapy_matches_radau():
    """Riluzole from day 0 and edaravone from day 400 (a step change the controller is told
    about) against Radau split at day 400."""
    p = alsjax.default_params("sporadic", "human")
    therapy = alsjax.make_therapy(riluzole=0.0, edaravone=400.0)
    ts = jnp.linspace(0.0, 2500.0, 101)
    ref = radau(p, ts, therapy)
    tight = solve(p, ts, therapy, **TIGHT)
    default = solve(p, ts, therapy)
    print(f"therapy: tight {scaled_error(tight.ys, ref):.2e}, "
          f"default {scaled_error(default.ys, ref):.2e}")
    assert scaled_error(tight.ys, ref) < 1e-6
    assert scaled_error(default.ys, ref) < 1e-3
    # the drug really changed the trajectory, so the comparison tested the switch
    untreated = solve(p, ts, alsjax.make_therapy())
    assert scaled_error(untreated.ys, ref) > 1e-2


# --- gradients ------------------------------------------------------------------------

_GRAD_TS = jnp.array([400.0, 900.0, 1400.0, 2500.0])
_GRAD_THERAPY = alsjax.make_therapy(
    riluzole=600.0, edaravone=300.0, tofersen=200.0, anti_inflammatory=100.0
)


def _objective(p, rtol, atol):
    sol = alsjax.simulate(p, _GRAD_TS, _GRAD_THERAPY, rtol=rtol, atol=atol, max_steps=8192)
    obs = sol.observables
    days = sol.events["onset"] + sol.events["death"] + sol.events["end_stage"]
    return jnp.sum(obs["alsfrs_r"]) + jnp.sum(jnp.log(obs["nfl"])) + days / 100.0


def test_grad_matches_finite_differences():
    """jax.grad with respect to every parameter (stored scale) agrees with central finite
    differences, both on rtol 1e-12 solves, within 1e-4 of the gradient's largest component
    (measured: 1e-5; at rtol 1e-10 the gradient itself is only good to about 5e-5).

    Every mechanism is switched on (SOD1 plus small C9orf72 and RNA-binding-protein drives,
    and all four drugs) so no component is zero by construction; riluzole at 0.05, below
    the efficacy at which (since revision 9) its block removes all of the respiratory
    pool's excess calcium and its gradient is exactly 0; the shared misfolding delayed by
    20 days (revision 10: at 0 the delay's gradient is 0, its ramp lying before day 0).
    """
    p = alsjax.default_params("SOD1", "human").replace(
        c9_repeat=3e-4, rbp_misfolding=2e-4, rna_stress=0.02, riluzole_efficacy=0.05,
        misfolding_delay=20.0, dpr_injury=0.2, dpr_axon_injury=3e-3,
    )
    grad = jax.jit(jax.grad(lambda q: _objective(q, 1e-12, 1e-14)))(p)
    g = np.array([float(getattr(grad, n)) for n in alsjax.PARAMETER_NAMES])

    # Step 1e-5 on the log/logit scale; drive terms ("none") live near 1e-3, so 1e-8.
    steps = np.array([1e-8 if i.transform == "none" else 1e-5 for i in alsjax.PARAMETERS])
    n = len(steps)
    shifts = np.concatenate([np.diag(steps), -np.diag(steps)])  # (2n, n)
    batch = type(p)(**{
        name: getattr(p, name) + jnp.asarray(shifts[:, i])
        for i, name in enumerate(alsjax.PARAMETER_NAMES)
    })
    values = np.asarray(jax.jit(jax.vmap(lambda q: _objective(q, 1e-12, 1e-14)))(batch))
    fd = (values[:n] - values[n:]) / (2 * steps)

    assert np.all(np.isfinite(g)) and np.all(np.isfinite(fd))
    err = np.abs(g - fd) / np.max(np.abs(g))
    worst = alsjax.PARAMETER_NAMES[int(np.argmax(err))]
    print(f"grad vs FD: max error {err.max():.2e} of max |grad| ({worst})")
    assert err.max() < 1e-4, worst
    assert np.count_nonzero(g) >= n - 1  # only arm_event_spread (likelihood only) is inert


# --- transformations ------------------------------------------------------------------

T101 = jnp.linspace(0.0, 2500.0, 101)


def _stack(trees):
    return jax.tree.map(lambda *x: jnp.stack(x), *trees)


@pytest.fixture(scope="module")
def solve_batch():
    """`simulate` vmapped over parameters and therapies, under one jit."""
    return jax.jit(jax.vmap(lambda p, th: alsjax.simulate(p, T101, th)))


def test_jit_and_vmap_match_a_loop(solve_batch):
    """A cohort mixing genotypes and trial arms: vmap (one compile) and jit give the numbers
    of a plain Python loop over un-jitted `simulate`."""
    ps = [alsjax.default_params(g) for g in alsjax.GENOTYPES]
    arms = [
        alsjax.make_therapy(),
        alsjax.make_therapy(riluzole=0.0),
        alsjax.make_therapy(riluzole=0.0, tofersen=300.0),
        alsjax.make_therapy(edaravone=500.0),
        alsjax.make_therapy(anti_inflammatory=200.0, riluzole=50.0),
    ]
    batched = solve_batch(_stack(ps), _stack(arms))
    # Same numbers up to round-off (XLA orders floating-point sums differently under jit and
    # vmap), far below the solver's own tolerance of 1e-6.
    for i, (p, th) in enumerate(zip(ps, arms, strict=True)):
        loop = alsjax.simulate(p, T101, th)
        ref = np.asarray(loop.ys)
        assert scaled_error(solve(p, T101, th).ys, ref) < 1e-8
        assert scaled_error(batched.ys[i], ref) < 1e-8
        for name in alsjax.EVENT_NAMES:
            # days; an event neither reaches by the last time is inf in both
            np.testing.assert_allclose(batched.events[name][i], loop.events[name], rtol=0,
                                       atol=1e-3)
        for name in alsjax.OBSERVABLE_NAMES:
            np.testing.assert_allclose(batched.observables[name][i], loop.observables[name],
                                       rtol=1e-8, atol=1e-10)


def test_no_recompilation_when_values_change():
    """Genotype, species, therapy and output days are array values: one trace serves all."""
    solve(alsjax.default_params(), T101, alsjax.make_therapy())
    before = len(TRACES)
    for g in alsjax.GENOTYPES:
        solve(alsjax.default_params(g), T101, alsjax.make_therapy(riluzole=10.0))
    solve(alsjax.default_params("SOD1", "mouse"), T101 / 20, alsjax.make_therapy(tofersen=30.0),
          rtol=1e-8, atol=1e-10)
    solve(alsjax.default_params().replace(glia_toxicity=0.01), T101 * 1.5,
          alsjax.parse_therapy("riluzole:0,edaravone:40"))
    assert len(TRACES) == before


# --- events ---------------------------------------------------------------------------


def _first_crossing(ts, margin):
    """Day the margin first falls through zero, by linear interpolation on the grid."""
    i = int(np.flatnonzero(margin < 0)[0])
    t0, t1, m0, m1 = ts[i - 1], ts[i], margin[i - 1], margin[i]
    return t0 + (t1 - t0) * m0 / (m0 - m1)


@pytest.mark.parametrize(
    "genotype, species, t1, tol",
    [("sporadic", "human", 2500.0, 1.0), ("SOD1", "human", 2500.0, 1.0),
     ("FUS", "human", 2500.0, 1.0), ("SOD1", "mouse", 150.0, 0.2)],
)
def test_event_days_match_threshold_crossings(genotype, species, t1, tol):
    """The event clocks' days agree with the crossing of each documented threshold (ALSFRS-R
    / 48 for onset, FVC / 100, the respiratory muscle, for death, the limb muscle for end
    stage) on a grid of 10001 days."""
    p = alsjax.default_params(genotype, species)
    ts = np.linspace(0.0, t1, 10001)
    sol = solve(p, jnp.asarray(ts), alsjax.make_therapy())
    r = alsjax.physical(p)
    obs = {k: np.asarray(v) for k, v in sol.observables.items()}
    margins = {
        "onset": obs["alsfrs_r"] / 48 - float(r["onset_threshold"]),
        "death": obs["fvc"] / 100 - float(r["death_threshold"]),
        "end_stage": np.asarray(sol.ys)[:, alsjax.STATE_NAMES.index("muscle")]
        - float(r["end_stage_threshold"]),
    }
    for name, margin in margins.items():
        assert np.all(margin[:10] > 0), name  # healthy at t = 0
        expected = _first_crossing(ts, margin)
        error = abs(float(sol.events[name]) - expected)
        print(f"{genotype}/{species} {name}: clock {float(sol.events[name]):.3f}, "
              f"crossing {expected:.3f}")
        assert error < tol, (name, float(sol.events[name]), expected)


def test_event_days_follow_the_parameters_at_default_tolerances():
    """A clock's day at the default tolerances stays within 0.05 day of the tight-tolerance
    day over a sweep of nearly equal parameters (21 death rates within 0.2 % of each other;
    riluzole from the untreated onset; the sporadic 2026.12 preset at the estimates of
    `fit/human_cohort.toml`). With an indicator sharper than a solver step (before
    `EVENT_TIME_WIDTH`) the death clock was 1.5 days off in this sweep, jumping wherever
    the step sequence changed, which stalled fits."""
    base = alsjax.default_params("sporadic", preset_version="2026.12").replace(
        apoptotic_death_rate=0.01166, aggregation_rate=0.0461, nfl_release=1901.0)
    ts = jnp.asarray([0.0, 2129.0])
    onset = float(solve(base, ts).events["onset"])
    therapy = alsjax.make_therapy(riluzole=onset)
    rates = 0.01166 * (1.0 + np.linspace(-1e-3, 1e-3, 21))
    worst = {name: 0.0 for name in alsjax.EVENT_NAMES}
    for rate in rates:
        p = base.replace(apoptotic_death_rate=float(rate))
        default, tight = solve(p, ts, therapy), solve(p, ts, therapy, **TIGHT)
        for name in worst:
            a, b = float(default.events[name]), float(tight.events[name])
            assert math.isfinite(b), name
            worst[name] = max(worst[name], abs(a - b))
    print("largest error of each event day (days):", worst)
    assert max(worst.values()) < 0.05, worst


def test_event_not_reached_is_inf():
    sol = solve(alsjax.default_params(), T101 / 10, alsjax.make_therapy())
    assert bool(sol.success)
    assert all(np.isposinf(float(sol.events[e])) for e in alsjax.EVENT_NAMES)


# --- therapies ------------------------------------------------------------------------


def test_tofersen_lowers_misfolded_sod1_and_is_inert_in_sporadic():
    """Tofersen knocks down mutant SOD1 synthesis (Miller et al. 2022, NEJM): it lowers
    misfolded protein and delays death in SOD1-ALS; sporadic ALS has no mutant SOD1."""
    i_misfolded = alsjax.STATE_NAMES.index("misfolded")
    none, tofersen = alsjax.make_therapy(), alsjax.make_therapy(tofersen=100.0)
    sod1 = alsjax.default_params("SOD1")
    base, treated = solve(sod1, T101, none), solve(sod1, T101, tofersen)
    window = (T101 > 150) & (T101 < float(base.events["death"]))
    assert np.all(treated.ys[window, i_misfolded] < 0.9 * base.ys[window, i_misfolded])
    assert float(treated.events["death"]) > float(base.events["death"]) + 30
    sporadic = alsjax.default_params("sporadic")
    base, treated = solve(sporadic, T101, none), solve(sporadic, T101, tofersen)
    assert scaled_error(treated.ys, np.asarray(base.ys)) < 1e-5
    assert abs(float(treated.events["death"] - base.events["death"])) < 0.1


def test_riluzole_delays_death():
    """Riluzole prolongs survival (Bensimon et al. 1994 NEJM; Lacomblez et al. 1996 Lancet);
    here every genotype's death comes later with riluzole from day 0 (C9orf72's, after its
    prodrome, more than 2,500 days after it)."""
    ts = jnp.linspace(0.0, 5000.0, 101)
    for g in alsjax.GENOTYPES:
        p = alsjax.default_params(g)
        base = solve(p, ts, alsjax.make_therapy())
        treated = solve(p, ts, alsjax.make_therapy(riluzole=0.0))
        assert float(base.events["death"]) < 4000.0, g
        assert float(treated.events["death"]) > float(base.events["death"]) + 10, g


# --- failures are values --------------------------------------------------------------


def test_failed_solve_is_a_value_under_jit():
    sol = solve(alsjax.default_params(), T101, alsjax.make_therapy(), max_steps=5)
    assert not bool(sol.success) and int(sol.status) == 1
    assert "max_steps" in alsjax.failure_reason(sol)
    assert np.all(np.isfinite(sol.ys[0])) and np.all(np.isnan(sol.ys[1:]))
    assert not any(np.isfinite(float(sol.events[e])) for e in alsjax.EVENT_NAMES)


@pytest.mark.parametrize("method", ["simulate", "simulate_batch"])
def test_failure_part_way_keeps_what_was_solved(method):
    """A step limit hit after onset (day ~800) but before death (~1840): the states up
    to the failure are those of the full solve (the same steps, so equal to round-off),
    later times are NaN, onset is kept, death and end stage are unknown (NaN)."""
    p = alsjax.default_params()
    if method == "simulate":
        full = alsjax.simulate(p, T101)
        cut = alsjax.simulate(p, T101, max_steps=60)
    else:
        batch = jax.tree.map(lambda x: jnp.stack([x, x]), p)
        full = jax.tree.map(lambda x: x[0], alsjax.simulate_batch(batch, T101))
        cut = jax.tree.map(lambda x: x[0], alsjax.simulate_batch(batch, T101, max_steps=60))
    assert bool(full.success) and not bool(cut.success)
    assert int(cut.status) == 1 and "max_steps" in alsjax.failure_reason(cut)
    reached = np.all(np.isfinite(np.asarray(cut.ys)), axis=1)
    n = int(reached.sum())
    assert reached[:n].all() and not reached[n:].any()  # a prefix of the output times
    assert float(T101[n - 1]) > float(full.events["onset"])
    assert float(T101[n - 1]) < float(full.events["death"])
    np.testing.assert_allclose(np.asarray(cut.ys)[:n], np.asarray(full.ys)[:n],
                               rtol=1e-12, atol=1e-12)
    assert float(cut.events["onset"]) == pytest.approx(float(full.events["onset"]), rel=1e-9)
    assert math.isnan(float(cut.events["death"]))
    assert np.all(np.isnan(np.asarray(cut.observables["alsfrs_r"])[n:]))


def test_unsorted_times_are_caught_under_jit():
    with pytest.raises(Exception, match="sorted"):
        jax.jit(alsjax.simulate)(alsjax.default_params(), jnp.asarray([0.0, 20.0, 10.0]))


def test_one_failing_member_leaves_the_others_intact(solve_batch):
    """Under vmap a member whose parameters make the field NaN fails alone."""
    good = alsjax.default_params("SOD1")
    bad = good.replace(misfolding_rate=jnp.nan)
    ps = [good, bad] + [alsjax.default_params(g) for g in ("FUS", "C9orf72", "TARDBP")]
    sol = solve_batch(_stack(ps), _stack([alsjax.make_therapy()] * 5))
    assert sol.success.tolist() == [True, False, True, True, True]
    assert np.all(np.isnan(sol.ys[1])) and np.all(np.isfinite(sol.ys[np.array([0, 2, 3, 4])]))
    # The healthy members are, to the bit, what they are with a healthy member in place
    # of the failing one (the same compiled program).
    healthy = solve_batch(_stack([good, good] + ps[2:]), _stack([alsjax.make_therapy()] * 5))
    keep = np.array([0, 2, 3, 4])
    np.testing.assert_array_equal(np.asarray(sol.ys)[keep], np.asarray(healthy.ys)[keep])
    # And what a single solve gives, to the step tolerance (rtol 1e-6): batched and single
    # solves round differently and the adaptive controller carries it (measured 1.3e-9).
    alone = alsjax.simulate(good, T101)
    np.testing.assert_allclose(sol.ys[0], alone.ys, rtol=1e-6, atol=1e-12)


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ts, words",
    [([-1.0, 10.0], ">= 0"), ([0.0, 20.0, 10.0], "sorted"), ([0.0, np.nan, 10.0], "finite"),
     ([0.0, np.inf], "finite"), ([], "non-empty"), ([[0.0, 1.0]], "1-D")],
)
def test_bad_times_name_the_field(ts, words):
    with pytest.raises(alsjax.ALSJaxError, match=words) as info:
        alsjax.simulate(alsjax.default_params(), ts)
    assert str(info.value).startswith("ts:") and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "call, field",
    [(lambda: alsjax.default_params("SOD2"), "genotype"),
     (lambda: alsjax.default_params("SOD1", "rat"), "species"),
     (lambda: alsjax.default_params("C9orf72", "mouse"), "mouse"),
     (lambda: alsjax.make_therapy(aspirin=0.0), "therapy"),
     (lambda: alsjax.make_therapy(riluzole=-5.0), "riluzole"),
     (lambda: alsjax.parse_therapy("riluzole:soon"), "riluzole"),
     (lambda: alsjax.parse_therapy("riluzol:0"), "riluzol"),
     (lambda: alsjax.parse_therapy("riluzole:0,edaravone,riluzole:100"), "'riluzole' is "
      "named twice"),
     (lambda: alsjax.default_params().replace(glia_toxicty=1.0), "glia_toxicity")],
)
def test_bad_names_name_the_field(call, field):
    with pytest.raises(alsjax.ALSJaxError, match=field) as info:
        call()
    assert "\n" not in str(info.value)
