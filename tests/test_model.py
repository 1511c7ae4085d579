"""The cascade and its presets: calibration against the literature, genotype mechanisms,
the vector field under jit/vmap/grad, and precision.

Solves use 101-point grids so that they share one compilation of `simulate`.
"""

import json
import os
import subprocess
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import alsjax

DAYS_PER_MONTH = 365.25 / 12
N = 101


def _course(genotype, species, horizon, version=alsjax.PRESET_VERSIONS[-1]):
    """Events over `horizon` days, then the trajectory from onset to death (or end stage)."""
    p = alsjax.default_params(genotype, species, preset_version=version)
    sol = alsjax.simulate(p, jnp.linspace(0.0, horizon, N))
    assert bool(sol.success)
    return p, {k: float(v) for k, v in sol.events.items()}


# --- calibration ----------------------------------------------------------------------

SOLOMON_MEAN, SOLOMON_SD, SOLOMON_N = 123.9, 10.3, 162  # age at CS4, days


def test_mouse_timeline():
    """SOD1-G93A (high copy), the calibrated preset: end stage (both hind limbs paralysed,
    CS4) at Solomon, Tarnopolsky & Hamadeh 2011's mean age, 123.9 +/- 10.3 d over 162 mice
    (PLoS One, doi 10.1371/journal.pone.0020582), within 2 standard errors of that mean
    (2 x 10.3 / sqrt(162) = 1.6 d; the fit reached 123.4, the solver adds under 0.2 d);
    death (loss of righting reflex, CS5, 127.6 +/- 9.8 d) after end stage. Onset was not
    fitted: with the fitted UMN loss the model notices symptoms at about 74 d, earlier
    than the legacy target (80-100 d, overt signs near 90 d) but after the motor deficits
    measurable from about 7 weeks (Hayworth & Gonzalez-Lima 2009, Neuroscience 164:975);
    accepted 60-100 d."""
    _, events = _course("SOD1", "mouse", 200.0)
    half_width = 2 * SOLOMON_SD / np.sqrt(SOLOMON_N)
    assert abs(events["end_stage"] - SOLOMON_MEAN) <= half_width, events
    assert 60.0 <= events["onset"] <= 100.0, events
    assert events["end_stage"] < events["death"] < 150.0, events


def test_mouse_loses_half_its_corticospinal_neurons_by_day_110():
    """Zang & Cheema 2002 (Neurosci Lett 332:99): 53 % of corticospinal neurons lost at 110
    days in the G1H line, i.e. 0.47 surviving; accepted within 0.05, the SD the mouse_g93a
    recipe assumed for that row (the abstract gives none). The legacy preset kept 0.89."""
    ts = jnp.linspace(0.0, 200.0, N)  # day 110 is grid point 55
    umn = {v: float(alsjax.simulate(alsjax.default_params("SOD1", "mouse", preset_version=v),
                                    ts).observables["umn"][55]) for v in alsjax.PRESET_VERSIONS}
    assert abs(umn["2026.12"] - 0.47) <= 0.05, umn
    assert umn["legacy"] > 0.85, umn


def test_legacy_mouse_timeline():
    """The legacy (hand-tuned) mouse preset keeps its own targets: onset 80-100 d, end
    stage 115-140 d (Solomon 2011), death after end stage; and the days recorded for it in
    docs/model.md (onset 85, end stage 130, death 136, rounded to the day)."""
    _, events = _course("SOD1", "mouse", 200.0, "legacy")
    assert 80.0 <= events["onset"] <= 100.0, events
    assert 115.0 <= events["end_stage"] <= 140.0, events
    assert events["end_stage"] < events["death"] < 150.0, events
    recorded = {"onset": 85.0, "end_stage": 130.0, "death": 136.0}
    for k, day in recorded.items():
        assert abs(events[k] - day) <= 0.5, (k, events)


@pytest.mark.parametrize("version", alsjax.PRESET_VERSIONS)
def test_mouse_loses_about_half_its_lower_motor_neurons_by_end_stage(version):
    """About half the lumbar motor neurons are gone at end stage in SOD1-G93A mice (Chiu et
    al. 1995, Mol Cell Neurosci 6:349); accepted 35-65 % surviving."""
    p, events = _course("SOD1", "mouse", 200.0, version)
    sol = alsjax.simulate(p, jnp.linspace(0.0, events["end_stage"], N))
    lmn = np.asarray(sol.observables["lmn"])
    assert 0.35 <= lmn[-1] <= 0.65, lmn[-1]
    assert np.all(np.diff(lmn) <= 0)  # neurons do not come back


def test_sporadic_survival_and_alsfrs_slope():
    """Sporadic ALS: median survival from symptom onset 20-48 months in population studies
    (Chio et al. 2009, Amyotroph Lateral Scler 10:310), accepted 24-48 months; ALSFRS-R
    falls 1.02 points/month on average in the PRO-ACT trial database (Atassi et al. 2014,
    Neurology 83:1719), accepted 0.7-1.4 points/month from onset to death."""
    p, events = _course("sporadic", "human", 3650.0)
    months = (events["death"] - events["onset"]) / DAYS_PER_MONTH
    assert 24.0 <= months <= 48.0, months
    sol = alsjax.simulate(p, jnp.linspace(events["onset"], events["death"], N))
    score = np.asarray(sol.observables["alsfrs_r"])
    slope = (score[0] - score[-1]) / months
    assert 0.7 <= slope <= 1.4, slope
    assert np.all(np.diff(score) <= 1e-9)  # no spontaneous improvement
    assert 0.0 <= score.min() and score.max() <= 48.0


@pytest.mark.parametrize("genotype", alsjax.GENOTYPES)
def test_every_human_genotype_has_onset_and_death_within_ten_years(genotype):
    """Every preset develops ALS: onset, then death, within 10 years of the cascade's start;
    NfL is raised at death (serum NfL is elevated several-fold in ALS, e.g. Benatar et al.
    2018, Ann Neurol 84:130)."""
    p, events = _course(genotype, "human", 3650.0)
    assert 0.0 < events["onset"] < events["death"] < 3650.0, events
    sol = alsjax.simulate(p, jnp.linspace(0.0, events["death"], N))
    nfl = np.asarray(sol.observables["nfl"])
    assert nfl[-1] > 3 * nfl[0]


def test_genotypes_change_their_own_mechanisms():
    """Each genotype differs from sporadic only in its mechanism (not a shared speed knob):
    SOD1 mutant protein, the only misfolding in its course (since 2026.12.12 the shared,
    age-related one a century on); C9orf72 repeats, their toxicity, their axonal
    injury (revision 11: direct; healthy autophagy since then) and the years its own drive
    runs before the shared misfolding (revision 10); TARDBP/FUS RNA-binding protein
    misfolding and RNA-processing stress."""
    expected = {
        "SOD1": {"mutant_sod1", "misfolding_delay"},
        "C9orf72": {"c9_repeat", "dpr_toxicity", "dpr_axon_injury", "misfolding_delay"},
        "TARDBP": {"rbp_misfolding", "rna_stress"},
        "FUS": {"rbp_misfolding", "rna_stress"},
    }
    base = alsjax.physical(alsjax.default_params("sporadic"))
    for genotype, fields in expected.items():
        r = alsjax.physical(alsjax.default_params(genotype))
        changed = {k for k in alsjax.PARAMETER_NAMES if float(r[k]) != float(base[k])}
        assert changed == fields, genotype
    mouse = alsjax.physical(alsjax.default_params("SOD1", "mouse"))
    assert float(mouse["time_scale"]) > 1.0  # the mouse runs on its own, faster clock


# --- the vector field -----------------------------------------------------------------


def test_initial_state_is_healthy():
    p = alsjax.default_params("C9orf72")
    y0 = dict(zip(alsjax.STATE_NAMES, np.asarray(alsjax.initial_state(p)), strict=True))
    assert y0["umn"] == y0["lmn"] == y0["muscle"] == y0["ros"] == y0["mitochondria"] == 1.0
    assert y0["respiratory_mn"] == y0["respiratory_muscle"] == 1.0
    assert y0["misfolded"] == y0["aggregates"] == y0["toxic_glia"] == 0.0
    # C9orf72 starts with healthy proteostasis since preset 2026.12.11, with less before
    assert y0["proteostasis"] == 1.0
    old = alsjax.default_params("C9orf72", preset_version="2026.12.10")
    assert float(alsjax.initial_state(old)[alsjax.STATE_NAMES.index("proteostasis")]) == (
        pytest.approx(0.7))
    assert y0["nfl"] == pytest.approx(float(alsjax.physical(p)["nfl_baseline"]))


def test_vector_field_jit_vmap_grad():
    """jit and vmap match eager evaluation; grad matches central finite differences."""
    ps = [alsjax.default_params(g) for g in alsjax.GENOTYPES]
    therapy = alsjax.make_therapy(riluzole=0.0, tofersen=5.0)
    y = jnp.asarray(np.linspace(0.2, 0.9, len(alsjax.STATE_NAMES)))
    eager = np.stack([alsjax.vector_field(10.0, y, p, therapy) for p in ps])
    field = jax.jit(alsjax.vector_field)
    jitted = np.stack([field(10.0, y, p, therapy) for p in ps])
    batch = jax.tree.map(lambda *x: jnp.stack(x), *ps)
    vmapped = jax.vmap(alsjax.vector_field, in_axes=(None, None, 0, None))(10.0, y, batch, therapy)
    np.testing.assert_allclose(jitted, eager, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(vmapped, eager, rtol=1e-13, atol=1e-15)

    @jax.jit
    def scalar(p):
        return jnp.sum(jnp.sin(alsjax.vector_field(10.0, y, p, therapy)))

    p = ps[1]
    grad = jax.jit(jax.grad(scalar))(p)
    h = 1e-6
    for name in alsjax.PARAMETER_NAMES:
        value = getattr(p, name)
        up = scalar(type(p)(**{**_fields(p), name: value + h}))
        down = scalar(type(p)(**{**_fields(p), name: value - h}))
        fd = float(up - down) / (2 * h)
        assert float(getattr(grad, name)) == pytest.approx(fd, rel=1e-6, abs=1e-8), name


def _fields(p):
    return {name: getattr(p, name) for name in alsjax.PARAMETER_NAMES}


# --- precision ------------------------------------------------------------------------

_FLOAT32 = """
import json, jax, jax.numpy as jnp, numpy as np
import alsjax
x64_after_import = bool(jax.config.jax_enable_x64)
sol = alsjax.simulate(alsjax.default_params("SOD1"), jnp.linspace(0.0, 2500.0, 101))
print(json.dumps(dict(x64=x64_after_import, dtype=str(sol.ys.dtype),
                      success=bool(sol.success), ys=np.asarray(sol.ys, float).tolist())))
"""


def test_import_leaves_precision_alone_and_float32_is_accurate():
    """`import alsjax` flips no JAX flag, and a float32 solve agrees with float64 (same
    tolerances) to 1e-4 of each state's range (measured: about 3e-6)."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    out = subprocess.run([sys.executable, "-c", _FLOAT32], capture_output=True, text=True,
                         check=True, env=dict(env, JAX_PLATFORMS="cpu"))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["x64"] is False and result["dtype"] == "float32" and result["success"]
    ref = alsjax.simulate(alsjax.default_params("SOD1"), jnp.linspace(0.0, 2500.0, N)).ys
    ref = np.asarray(ref)
    scale = np.where(np.abs(ref).max(0) > 0, np.abs(ref).max(0), 1.0)
    assert np.max(np.abs(np.asarray(result["ys"]) - ref) / scale) < 1e-4


# --- NfL from injured axons -------------------------------------------------------------

NFL = alsjax.STATE_NAMES.index("nfl")
OTHERS = [i for i in range(len(alsjax.STATE_NAMES)) if i != NFL]


def test_nfl_injury_feeds_only_the_nfl_equation():
    """Setting `nfl_injury_release` to 0 changes dNfL/dt only, by exactly the injury term
    written out here in numpy (nfl_release x nfl_injury_release x (m + dpr_injury x d)^2 x
    x / (x + 0.01) x (u + l)); every other component is bit-for-bit the same, with and
    without drugs."""
    rng = np.random.default_rng(0)
    therapy = alsjax.make_therapy(riluzole=0.0, tofersen=5.0)
    for genotype in alsjax.GENOTYPES:
        p = alsjax.default_params(genotype)
        r = {k: float(v) for k, v in alsjax.physical(p).items()}
        for _ in range(3):
            y = jnp.asarray(rng.uniform(0.01, 1.0, len(alsjax.STATE_NAMES)))
            for th in (None, therapy):
                with_injury = np.asarray(alsjax.vector_field(10.0, y, p, th))
                without = np.asarray(alsjax.vector_field(
                    10.0, y, p.replace(nfl_injury_release=0.0), th))
                np.testing.assert_array_equal(with_injury[OTHERS], without[OTHERS])
                m, d, x, u, lmn = (float(y[i]) for i in (0, 3, 6, 11, 12))
                toxic = m + r["dpr_injury"] * d
                injury = r["nfl_release"] * r["nfl_injury_release"] * toxic**2 * x / (x + 0.01)
                np.testing.assert_allclose(with_injury[NFL] - without[NFL],
                                           injury * (u + lmn), rtol=1e-12)


def test_direct_injury_by_repeats_adds_its_closed_form():
    """`dpr_axon_injury` (revision 11) changes dNfL/dt only, by nfl_release x
    dpr_axon_injury x d x (u + l) x the time scale, written here in numpy (to rounding,
    1e-12), with apoptotic signalling (x) at 0 as well as above it."""
    rng = np.random.default_rng(11)
    p = alsjax.default_params("C9orf72")
    leak = float(alsjax.physical(p)["dpr_axon_injury"])
    assert leak > 0.0
    r = {k: float(v) for k, v in alsjax.physical(p).items()}
    for x in (0.0, 0.02):
        y = jnp.asarray(rng.uniform(0.01, 1.0, len(alsjax.STATE_NAMES))).at[6].set(x)
        got = np.asarray(alsjax.vector_field(10.0, y, p))
        without = np.asarray(alsjax.vector_field(10.0, y, p.replace(dpr_axon_injury=0.0)))
        np.testing.assert_array_equal(got[OTHERS], without[OTHERS])
        d, u, lmn = (float(y[i]) for i in (3, 11, 12))
        want = r["nfl_release"] * leak * d * (u + lmn) * r["time_scale"]
        assert got[NFL] - without[NFL] == pytest.approx(want, rel=1e-12)


def test_nfl_injury_leaves_the_course_unchanged():
    """Solved with and without the injury term (default tolerances), every state but NfL
    agrees to the solver's tolerance (3e-5 absolute, states are O(1)) and the event days
    to 0.5 day (the step-size controller sees NfL, so steps differ; measured over the
    presets: onset and death under 0.04 d, the human end stage up to 0.24 d)."""
    p = alsjax.default_params("SOD1")
    ts = jnp.linspace(0.0, 2500.0, N)
    a, b = alsjax.simulate(p, ts), alsjax.simulate(p.replace(nfl_injury_release=0.0), ts)
    np.testing.assert_allclose(np.asarray(a.ys)[:, OTHERS], np.asarray(b.ys)[:, OTHERS],
                               atol=3e-5)
    for k in alsjax.EVENT_NAMES:
        assert abs(float(a.events[k]) - float(b.events[k])) < 0.5, k
    assert float(np.max(np.asarray(a.ys)[:, NFL] / np.asarray(b.ys)[:, NFL])) > 3.0


def _grid(*days):
    """A sorted N-point grid holding `days` (so `simulate` compiles once for the file)."""
    ts = np.unique(np.concatenate([np.linspace(0.0, 3000.0, N - len(days)), days]))
    assert ts.size == N
    return ts


def test_sporadic_nfl_is_high_and_flat():
    """Serum NfL / healthy about 29 in symptomatic ALS (Gaiottino 2013: 95.4 / 3.3; accepted
    within a factor 1.5: 19.3-43.4) 12 months after onset, within a factor 1.5 of that
    from onset to 24 months (stable for years in Lu 2015; the calibrated pace of 2026.12.5
    rises 1.40-fold in the first year, where the hand-tuned one rose 1.29-fold and this
    bound was a third: docs/validation.md, check 5), and first above 1.5 times healthy
    within the two years
    before onset (Benatar 2018: the rise starts about a year before symptoms; the preset's
    cascade starts less than two years before onset, so the day is found on a 1-day grid
    from the cascade's start rather than read two years before onset)."""
    p = alsjax.default_params("sporadic")
    onset = float(alsjax.simulate(p, jnp.linspace(0.0, 3000.0, N)).events["onset"])
    days = np.array([onset, onset + 365.25, onset + 730.5])
    ts = _grid(*days)
    ratio = np.asarray(alsjax.simulate(p, ts).observables["nfl"]) / 10.0
    at_12 = float(ratio[ts == days[1]][0])
    assert 28.9 / 1.5 < at_12 < 28.9 * 1.5
    symptomatic = ratio[(ts >= days[0]) & (ts <= days[2])]
    assert 1 / 1.5 < symptomatic.min() / at_12 and symptomatic.max() / at_12 < 1.5
    early = jnp.arange(0.0, onset, 1.0)
    rise = np.asarray(alsjax.simulate(p, early).observables["nfl"]) / 10.0 >= 1.5
    assert rise.any() and onset - float(early[int(np.argmax(rise))]) < 730.5


def test_tofersen_lowers_nfl_within_weeks():
    """SOD1 preset, tofersen from 6 months after onset: after 28 weeks NfL is at most 0.64
    of its pre-treatment level, the smallest fall among the six patients of Meyer et al.
    2023 (range 0.16-0.64, mean 0.38 at 6.5 months), and not below 0.16; a third of the
    fall is there by week 8; the untreated course does not fall as far; and without the
    injury term tofersen leaves NfL within 10 % of the untreated course (the response
    comes from injured axons, not from fewer deaths)."""
    p = alsjax.default_params("SOD1")
    onset = float(alsjax.simulate(p, jnp.linspace(0.0, 3000.0, N)).events["onset"])
    start = onset + 182.625
    days = np.array([start, start + 56.0, start + 196.0])
    ts = _grid(*days)
    tof = alsjax.make_therapy(tofersen=start)

    def ratios(params, therapy):
        n = np.asarray(alsjax.simulate(params, ts, therapy).observables["nfl"])
        return [float(n[ts == d][0]) / float(n[ts == start][0]) for d in days[1:]]

    week8, week28 = ratios(p, tof)
    _, untreated = ratios(p, None)
    assert 0.16 < week28 < 0.64
    assert 1 - week8 > (1 - week28) / 3
    assert week28 / untreated < 0.8
    p0 = p.replace(nfl_injury_release=0.0)
    assert abs(ratios(p0, tof)[1] / ratios(p0, None)[1] - 1) < 0.1


# --- the respiratory motor pool (revision 5) ---------------------------------------------

LMN, MUSCLE, RESP_MN, RESP_MUSCLE = (alsjax.STATE_NAMES.index(k) for k in (
    "lmn", "muscle", "respiratory_mn", "respiratory_muscle"))


def test_respiratory_pool_at_vulnerability_one_is_the_limb_pool():
    """At `respiratory_vulnerability` 1 (every preset before 2026.12.5; the mouse's still)
    the respiratory pool obeys the limb
    pool's equations from the same start, so it is the limb pool to the bit: FVC is
    100 x limb muscle and death is where limb muscle crosses `death_threshold`, as before
    revision 5 (the crossing found on the grid, to its 30-day spacing)."""
    for genotype, species, horizon in (("sporadic", "human", 3000.0), ("SOD1", "mouse", 300.0)):
        p = alsjax.default_params(genotype, species).replace(respiratory_vulnerability=1.0)
        ts = jnp.linspace(0.0, horizon, N)
        sol = alsjax.simulate(p, ts)
        ys = np.asarray(sol.ys)
        np.testing.assert_array_equal(ys[:, RESP_MN], ys[:, LMN])
        np.testing.assert_array_equal(ys[:, RESP_MUSCLE], ys[:, MUSCLE])
        np.testing.assert_allclose(sol.observables["fvc"], 100.0 * ys[:, MUSCLE], rtol=1e-15)
        below = ys[:, MUSCLE] < float(alsjax.physical(p)["death_threshold"])
        first = int(np.argmax(below))
        assert below.any() and float(ts[first - 1]) < float(sol.events["death"]) <= float(ts[first])


def test_respiratory_vulnerability_moves_breathing_and_death_only():
    """The respiratory pool shares the limb pool's hazard, so from the same start it is
    exactly the limb pool raised to `respiratory_vulnerability` (closed form: both are
    exp(-integral of the hazard), one scaled): checked to 1e-5 on the solve. Halving the
    vulnerability (relative to the preset's) leaves onset, the limb states and ALSFRS-R
    where they were (to 1e-4 of each state's size: the step sequence changes) and moves
    death later, with FVC higher at every time; doubling it moves death earlier."""
    p = alsjax.default_params("sporadic")
    ts = jnp.linspace(0.0, 3000.0, N)
    base = alsjax.simulate(p, ts)
    preset = float(alsjax.physical(p)["respiratory_vulnerability"])
    for factor in (0.5, 2.0):
        v = factor * preset
        sol = alsjax.simulate(p.replace(respiratory_vulnerability=v), ts)
        ys, yb = np.asarray(sol.ys), np.asarray(base.ys)
        np.testing.assert_allclose(ys[:, RESP_MN], ys[:, LMN] ** v, atol=1e-5)
        scale = np.abs(yb[:, :RESP_MN]).max(axis=0)  # each state's size (NfL is hundreds)
        assert np.all(np.abs(ys[:, :RESP_MN] - yb[:, :RESP_MN]) <= 1e-4 * scale + 1e-12)
        np.testing.assert_allclose(sol.observables["alsfrs_r"], base.observables["alsfrs_r"],
                                   atol=5e-3)
        assert abs(float(sol.events["onset"]) - float(base.events["onset"])) < 0.5
        fvc, fvc0 = np.asarray(sol.observables["fvc"]), np.asarray(base.observables["fvc"])
        if factor < 1:
            assert float(sol.events["death"]) > float(base.events["death"]) + 90.0
            assert np.all(fvc >= fvc0 - 1e-6) and np.any(fvc > fvc0 + 1.0)
        else:
            assert float(sol.events["death"]) < float(base.events["death"]) - 90.0
            assert np.all(fvc <= fvc0 + 1e-6) and np.any(fvc < fvc0 - 1.0)


# --- riluzole on the respiratory pool (revision 6) ----------------------------------------

RESP = alsjax.STATE_NAMES.index("respiratory_mn")
NOT_RESP = [i for i in range(len(alsjax.STATE_NAMES)) if i != RESP]


def test_riluzole_limb_fraction_0_acts_on_the_respiratory_pool_only():
    """At `riluzole_limb_fraction` 0 riluzole changes d(respiratory pool)/dt only, by
    exactly the excitotoxic term written here in numpy (-respiratory_vulnerability x
    excitotoxic_death_rate x (max(Ca - 1, 0) with the drug - without) x pool); every other
    component is bit for bit the untreated one. At 1 (versions legacy and 2026.12) every
    component moves, as before the revision."""
    rng = np.random.default_rng(2)
    drug = alsjax.make_therapy(riluzole=0.0)
    for genotype in alsjax.GENOTYPES:
        p = alsjax.default_params(genotype).replace(riluzole_efficacy=0.3)
        r = {k: float(v) for k, v in alsjax.physical(p).items()}
        assert r["riluzole_limb_fraction"] == 0.0
        for _ in range(3):
            y = jnp.asarray(rng.uniform(0.01, 1.0, len(alsjax.STATE_NAMES)))
            on = np.asarray(alsjax.vector_field(10.0, y, p, drug))
            off = np.asarray(alsjax.vector_field(10.0, y, p))
            np.testing.assert_array_equal(on[NOT_RESP], off[NOT_RESP])
            g, s_, z, h, v = (float(y[i]) for i in (7, 8, 9, 5, RESP))
            glutamate = (1 + r["microglia_glutamate"] * g * z) * (1 + r["eaat2_loss"] * s_ * z)
            calcium = glutamate * (1 + r["calcium_buffer_loss"] * (1 - h))
            excess = max(calcium * (1 - r["riluzole_efficacy"]) - 1, 0) - max(calcium - 1, 0)
            want = -r["respiratory_vulnerability"] * r["excitotoxic_death_rate"] * excess * v
            np.testing.assert_allclose(on[RESP] - off[RESP], want, rtol=1e-12, atol=1e-18)
            everywhere = p.replace(riluzole_limb_fraction=1.0)
            moved = np.asarray(alsjax.vector_field(10.0, y, everywhere, drug)) != np.asarray(
                alsjax.vector_field(10.0, y, everywhere))
            assert moved[[alsjax.STATE_NAMES.index(k) for k in ("lmn", "mitochondria")]].all()


def test_riluzole_extends_survival_and_leaves_alsfrs_r_alone():
    """Solved from onset on riluzole (sporadic preset, default tolerances): ALSFRS-R and
    the limb states agree with the untreated course to the solver's tolerance (3e-5 for
    O(1) states, 1e-5 relative for NfL; the step-size controller sees the respiratory
    pool, so steps differ) while death comes later; in version 2026.12 ALSFRS-R rose by
    points."""
    ts = jnp.linspace(0.0, 3000.0, N)
    for version in ("2026.12.4", "2026.12"):
        p = alsjax.default_params(preset_version=version)
        untreated = alsjax.simulate(p, ts)
        onset = float(untreated.events["onset"])
        treated = alsjax.simulate(p, ts, alsjax.make_therapy(riluzole=onset))
        assert float(treated.events["death"]) > float(untreated.events["death"]) + 30.0
        gap = np.max(np.abs(np.asarray(treated.observables["alsfrs_r"])
                            - np.asarray(untreated.observables["alsfrs_r"])))
        if version == "2026.12.4":
            a, b = np.asarray(treated.ys), np.asarray(untreated.ys)
            limb = [i for i in range(RESP) if i != NFL]
            np.testing.assert_allclose(a[:, limb], b[:, limb], atol=3e-5)
            np.testing.assert_allclose(a[:, NFL], b[:, NFL], rtol=1e-5)  # pg/mL, hundreds
            assert gap < 48 * 3e-5
        else:
            assert gap > 1.0


# --- the oxidative death route (revision 8) ----------------------------------------------

ROS = alsjax.STATE_NAMES.index("ros")


def test_oxidative_route_adds_its_closed_form_to_the_death_hazard():
    """The limb death hazard with `oxidative_death_rate` k is the hazard without it plus
    k x max(ROS - 1, 0), written here in numpy (to rounding, 1e-12), at random states
    with ROS on both sides of baseline; at k = 0 it is the hazard before the revision."""
    from alsjax._model import death_hazard

    rng = np.random.default_rng(8)
    p = alsjax.default_params()
    for k in (0.0, 0.003):
        r1, r0 = (alsjax.physical(p.replace(oxidative_death_rate=v)) for v in (k, 0.0))
        for _ in range(4):
            y = jnp.asarray(rng.uniform(0.0, 2.0, len(alsjax.STATE_NAMES)))
            drug = jnp.zeros(len(alsjax.DRUGS))
            got, base = (float(death_hazard(y, r, drug)) for r in (r1, r0))
            assert got == pytest.approx(base + k * max(float(y[ROS]) - 1.0, 0.0), rel=1e-12)


def test_edaravone_acts_within_weeks():
    """Sporadic preset, edaravone from 1 year after onset. At 2026.12.8's guessed efficacy
    (0.05): 2 weeks later the ROS excess is at least 20 % lower than untreated (at 0.1 it
    would settle about 60 % lower, with an 18-day time constant) and the limb death hazard
    at least 10 % lower; by week 8 ALSFRS-R is higher than untreated; by week 24 the gap
    is 1-5 points, around MCI186-19's 2.5 (95 % CI 1.0-4.0, Writing Group 2017). At the
    newest preset's efficacy, fitted with Brooks 2022's survival (0.0275), the same
    within-weeks action, smaller: ROS excess at least 10 % and the hazard at least 5 %
    lower at 2 weeks, ALSFRS-R higher by week 8, and 0.5-5 points by week 24 (it is about
    1: the lower end of the trial's interval, docs/validation.md, check 4c). At 2026.12.5
    (no oxidative route) the hazard 2 weeks in is within 2 % of the untreated one: the old
    route took months."""
    from alsjax._model import death_hazard

    def run(version):
        p = alsjax.default_params(preset_version=version)
        onset = float(alsjax.simulate(p, jnp.linspace(0.0, 3000.0, N)).events["onset"])
        start = onset + 365.25
        ts = _grid(start, start + 14.0, start + 56.0, start + 168.0)
        eda = alsjax.make_therapy(edaravone=start)
        on, off = (alsjax.simulate(p, ts, th) for th in (eda, None))
        r = alsjax.physical(p)
        i14, i56, i168 = (int(np.flatnonzero(ts == d)[0]) for d in (start + 14.0,
                                                                    start + 56.0,
                                                                    start + 168.0))
        hz = [float(death_hazard(s.ys[i14], r, jnp.zeros(len(alsjax.DRUGS))))
              for s in (on, off)]
        gap = (np.asarray(on.observables["alsfrs_r"])
               - np.asarray(off.observables["alsfrs_r"]))[[i56, i168]]
        ros = [float(s.ys[i14][ROS]) - 1.0 for s in (on, off)]
        return hz[0] / hz[1], gap, ros

    ratio, gap, (ros_on, ros_off) = run("2026.12.8")
    assert max(ros_on, 0.0) < 0.8 * ros_off, (ros_on, ros_off)
    assert ratio < 0.9, ratio
    assert gap[0] > 0.0 and 1.0 < gap[1] < 5.0, gap
    ratio, gap, (ros_on, ros_off) = run(alsjax.PRESET_VERSIONS[-1])
    assert max(ros_on, 0.0) < 0.9 * ros_off, (ros_on, ros_off)
    assert ratio < 0.95, ratio
    assert gap[0] > 0.0 and 0.5 < gap[1] < 5.0, gap
    old_ratio, _, _ = run("2026.12.5")
    assert abs(old_ratio - 1.0) < 0.02, old_ratio


# --- the motor layer of revision 9 -------------------------------------------------------

AGGREGATES, MUSCLE = (alsjax.STATE_NAMES.index(s) for s in ("aggregates", "muscle"))
RESPIRATORY_MUSCLE = alsjax.STATE_NAMES.index("respiratory_muscle")
LMN, RESPIRATORY_MN = (alsjax.STATE_NAMES.index(s) for s in ("lmn", "respiratory_mn"))


def test_revision_9_switches_add_their_closed_forms():
    """Each of revision 9's switches changes its own equations only, by its closed form
    written here in numpy (to rounding, 1e-12), at random states, with and without drugs:
    `aggregate_death_loss` k takes k x (limb hazard) x aggregates from d aggregates / dt;
    `gradual_reinnervation` w moves the muscle's target from the threshold curve
    x^4 (1 + R^4) / (R^4 + x^4) towards the gradual x (1 + R) / (R + x) by w, for the limb
    and the respiratory muscle alike. (At 0 the model is as before revision 9: the legacy
    courses of tests/test_presets.py still hold.)"""
    from alsjax._model import death_hazard, limb_drugs

    rng = np.random.default_rng(9)
    p = alsjax.default_params("SOD1").replace(aggregate_death_loss=0.0, gradual_reinnervation=0.0)
    rates = alsjax.physical(p)
    r = {k: float(v) for k, v in rates.items()}
    R = r["motor_reserve"]
    therapy = alsjax.make_therapy(riluzole=0.0, tofersen=5.0)
    not_aggregates = [i for i in range(len(alsjax.STATE_NAMES)) if i != AGGREGATES]
    not_muscles = [i for i in range(len(alsjax.STATE_NAMES))
                   if i not in (MUSCLE, RESPIRATORY_MUSCLE)]
    for _ in range(4):
        y = jnp.asarray(rng.uniform(0.01, 1.0, len(alsjax.STATE_NAMES)))
        for th in (None, therapy):
            base = np.asarray(alsjax.vector_field(10.0, y, p, th))
            drug = jnp.zeros(len(alsjax.DRUGS)) if th is None else th.active(10.0)
            hazard = float(death_hazard(y, rates, limb_drugs(drug, rates)))
            for k in (0.0, 0.4, 1.0):
                got = np.asarray(alsjax.vector_field(10.0, y, p.replace(aggregate_death_loss=k),
                                                     th))
                np.testing.assert_array_equal(got[not_aggregates], base[not_aggregates])
                want = -k * r["time_scale"] * hazard * float(y[AGGREGATES])
                assert got[AGGREGATES] - base[AGGREGATES] == pytest.approx(want, rel=1e-12,
                                                                           abs=1e-300)
            for w in (0.0, 0.3, 1.0):
                got = np.asarray(alsjax.vector_field(10.0, y, p.replace(gradual_reinnervation=w),
                                                     th))
                np.testing.assert_array_equal(got[not_muscles], base[not_muscles])
                for muscle, pool in ((MUSCLE, LMN), (RESPIRATORY_MUSCLE, RESPIRATORY_MN)):
                    x = float(y[pool])
                    threshold = x**4 * (1 + R**4) / (R**4 + x**4)
                    gradual = x * (1 + R) / (R + x)
                    want = r["time_scale"] * r["muscle_remodelling"] * w * (gradual - threshold)
                    assert got[muscle] - base[muscle] == pytest.approx(want, rel=1e-9,
                                                                       abs=1e-15)


def test_revision_9_loses_motor_units_before_function():
    """Ebersbach 2023 (MUNIX, 2026-12 transcription): half the motor units gone 14 months
    after onset, ALSFRS-R at 24 after 28 (M50 / D50 about 0.5); Neuwirth 2015: motor units
    fall 1.39 times as fast as ALSFRS-R, in % per month, over a year from about a year
    after onset. The sporadic preset (revision 9, fitted to the two medians with the trial
    arms and survival) gives M50 within 4 months of 14, M50 / D50 below 0.8 (the model
    before revision 9: 1.05), and the relative ratio, which no recipe fits, within 0.3 of
    1.39 (before: 0.65). Read on a daily grid from onset."""
    p = alsjax.default_params()
    on, de = (float(alsjax.simulate(p, jnp.linspace(0.0, 6000.0, N)).events[e])
              for e in ("onset", "death"))
    t = np.arange(on, de, 1.0)
    sol = alsjax.simulate(p, jnp.asarray(t))
    lmn = np.asarray(sol.ys[:, LMN])
    frs = np.asarray(sol.observables["alsfrs_r"])
    m50 = (t[np.argmax(lmn <= 0.5)] - on) / DAYS_PER_MONTH
    d50 = (t[np.argmax(frs <= 24.0)] - on) / DAYS_PER_MONTH
    assert abs(m50 - 14.0) < 4.0 and m50 / d50 < 0.8, (m50, d50)
    year = (t >= on + 365.25) & (t <= on + 730.5)
    first, last = np.flatnonzero(year)[[0, -1]]
    percent = lambda x: (x[first] - x[last]) / x[first] * 100 / 12  # noqa: E731
    assert abs(percent(lmn) / percent(frs) - 1.39) < 0.3, percent(lmn) / percent(frs)


# --- a carrier's prodrome: revision 10 --------------------------------------------------

MISFOLDED, ROS = (alsjax.STATE_NAMES.index(s) for s in ("misfolded", "ros"))
MONTH = 365.25 / 12


def test_misfolding_delay_adds_its_closed_form():
    """`misfolding_delay` D changes d misfolded / dt only, by the age-related production
    times (1 - the smoothstep s^2 (3 - 2 s), s = clip((t - D) / 30 + 1, 0, 1)), written
    here in numpy (to rounding, 1e-12): all of it before day D - 30, part of it on the
    ramp, none from day D on, where the field is bit-for-bit the undelayed one (so a delay
    of 0, every preset but C9orf72's, is the model before revision 10)."""
    rng = np.random.default_rng(10)
    p = alsjax.default_params("C9orf72").replace(misfolding_delay=0.0)
    r = {k: float(v) for k, v in alsjax.physical(p).items()}
    not_misfolded = [i for i in range(len(alsjax.STATE_NAMES)) if i != MISFOLDED]
    delay = 400.0
    for t in (0.0, 369.0, 371.0, 385.0, 399.9, 400.0, 800.0):
        y = jnp.asarray(rng.uniform(0.01, 2.0, len(alsjax.STATE_NAMES)))
        base = np.asarray(alsjax.vector_field(t, y, p))
        got = np.asarray(alsjax.vector_field(t, y, p.replace(misfolding_delay=delay)))
        np.testing.assert_array_equal(got[not_misfolded], base[not_misfolded])
        s = min(max((t - delay) / 30.0 + 1.0, 0.0), 1.0)
        ageing = r["misfolding_rate"] * (1 + r["ros_misfolding_gain"] * max(float(y[ROS]) - 1, 0))
        want = -ageing * (1 - s * s * (3 - 2 * s)) * r["time_scale"]
        if t >= delay:
            assert got[MISFOLDED] == base[MISFOLDED]
        else:
            assert got[MISFOLDED] - base[MISFOLDED] == pytest.approx(want, rel=1e-12)


class _NfLCourse(NamedTuple):
    """One untreated course over 20 years: serum NfL in times healthy, onset and death."""

    t: np.ndarray
    ratio: np.ndarray
    onset: float
    death: float

    def lead(self, threshold: float = 2.0) -> float:
        """Months NfL is above `threshold` x healthy before onset."""
        before = self.ratio[self.t < self.onset]
        return (self.onset - self.t[np.flatnonzero(before < threshold)[-1] + 1]) / MONTH

    def survival(self) -> float:
        return (self.death - self.onset) / MONTH

    def a_year_after_onset(self) -> float:
        return float(np.interp(self.onset + 12 * MONTH, self.t, self.ratio))


def _nfl_course(p) -> _NfLCourse:
    ts = jnp.linspace(0.0, 20 * 365.25, 8001)
    sol = alsjax.simulate(p, ts)
    ratio = np.asarray(sol.observables["nfl"]) / float(alsjax.physical(p)["nfl_baseline"])
    return _NfLCourse(np.asarray(ts), ratio, float(sol.events["onset"]),
                      float(sol.events["death"]))


@pytest.mark.parametrize("version,injury", [("2026.12.10", "dpr_injury"),
                                             ("2026.12.11", "dpr_axon_injury")])
def test_c9orf72_nfl_rises_years_before_onset(version, injury):
    """Benatar 2019 (abstract; docs/validation.md, check 12): serum NfL rises about 3.5
    years before symptom onset in C9orf72 carriers. The presets since 2026.12.10, read at
    2x and at 3x healthy (check 12's guesses at the end of a control range): 36-48 months,
    where 2026.12.9's was under a year; survival from onset stays a human course (24-40
    months). Without injury by repeats (revision 10's or 11's), or without the delay, the
    lead falls back under 16 months: each half is needed."""
    p = alsjax.default_params("C9orf72", preset_version=version)
    course = _nfl_course(p)
    lead = course.lead()
    assert 36.0 <= lead <= 48.0 and 24.0 <= course.survival() <= 40.0
    assert 36.0 <= course.lead(threshold=3.0) <= lead
    old = _nfl_course(alsjax.default_params("C9orf72", preset_version="2026.12.9")).lead()
    assert old < 12.0
    for half in ({injury: 0.0}, dict(misfolding_delay=0.0)):
        assert _nfl_course(p.replace(**half)).lead() < 16.0, half


def test_c9orf72_nfl_level_is_near_sporadic_disease():
    """C9orf72 ALS has plasma NfL about level with typical ALS (Saracino 2021, 71.76 pg/mL;
    Meyer 2024, 75.7: about 0.95; docs/validation.md, check 14). A year after onset the
    2026.12.11 preset's NfL is within 1.5 times the sporadic preset's (check 5's factor),
    where 2026.12.10's, with the lead from the squared injury, was over 4 times it."""
    sporadic = _nfl_course(alsjax.default_params("sporadic")).a_year_after_onset()
    c9 = _nfl_course(alsjax.default_params("C9orf72")).a_year_after_onset()
    assert 1 / 1.5 <= c9 / sporadic <= 1.5
    old = _nfl_course(alsjax.default_params("C9orf72", preset_version="2026.12.10"))
    assert old.a_year_after_onset() / sporadic > 4.0


def test_sod1_nfl_sits_below_c9orf72s_and_flat():
    """C9orf72 patients' plasma NfL is higher than SOD1 patients' (Behzadi 2021; docs/
    validation.md, check 14), and blood NfL is about flat in symptomatic ALS (Lu 2015). A
    year after onset the 2026.12.12 SOD1 preset's NfL is below the C9orf72 preset's and
    within 1.5 times the sporadic preset's, and over the 28 weeks from 6 months after onset
    it moves by under 10 %; 2026.12.11's SOD1, with the age-related misfolding beside the
    mutant protein, was over twice C9orf72's and fell by over 15 %."""
    sporadic = _nfl_course(alsjax.default_params("sporadic")).a_year_after_onset()
    c9 = _nfl_course(alsjax.default_params("C9orf72")).a_year_after_onset()

    def level_and_drift(version):
        course = _nfl_course(alsjax.default_params("SOD1", preset_version=version))
        start = course.onset + 6 * MONTH
        drift = np.interp(start + 196.0, course.t, course.ratio) / np.interp(
            start, course.t, course.ratio)
        return course.a_year_after_onset(), float(drift)

    level, drift = level_and_drift("2026.12.12")
    assert level < c9 and 1 / 1.5 <= level / sporadic <= 1.5
    assert abs(drift - 1.0) < 0.1
    old_level, old_drift = level_and_drift("2026.12.11")
    assert old_level > 2 * c9 and old_drift < 0.85
