"""The ALS cascade: states, the vector field, and the genotype and species presets.

t = 0 is the start of the cascade: a healthy nervous system in which the disease drivers
(ageing-related misfolding and the genotype's own drive) switch on. Symptom onset, death
and the mouse's end stage are events the model predicts (see `_observables.py`). The mouse
runs in days of age (t = 0 at birth, when the SOD1-G93A transgene is already expressed).
The equations are written out in `docs/model.md`.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._params import Params, physical
from ._presets import LATEST_PRESET, preset_values
from ._therapy import DRUGS, Therapy, no_therapy

STATE_NAMES: tuple[str, ...] = (
    "misfolded",  # soluble misfolded protein (a.u.)
    "aggregates",  # aggregated protein (a.u.)
    "proteostasis",  # clearance capacity, autophagy + ubiquitin-proteasome (1 = healthy)
    "dpr",  # C9orf72 RNA foci and dipeptide-repeat proteins (a.u.)
    "ros",  # oxidative stress (1 = healthy baseline)
    "mitochondria",  # mitochondrial function (1 = healthy)
    "apoptosis",  # apoptotic signalling in surviving neurons (0..1)
    "microglia",  # activated fraction of microglia (0 = resting, 1 = all activated)
    "astrocytes",  # reactive fraction of astrocytes (0 = resting, 1 = all reactive)
    "toxic_glia",  # fraction of activated glia in the toxic phenotype (0..1)
    "cytokines",  # pro-inflammatory cytokines (a.u.)
    "umn",  # surviving upper motor neurons (fraction)
    "lmn",  # surviving limb lower motor neurons (fraction)
    "muscle",  # limb muscle function (fraction of healthy)
    "nfl",  # serum neurofilament light (pg/mL)
    "respiratory_mn",  # surviving respiratory (phrenic) motor neurons (fraction)
    "respiratory_muscle",  # respiratory muscle function (fraction of healthy)
)

# Hill exponents are integers: an integer power is about twice as cheap as a float one
# and is defined for a slightly negative state, which an adaptive solver may visit.
_RESERVE_HILL = 4  # steepness of threshold reinnervation (`gradual_reinnervation` 0)
_SWITCH_HILL = 4  # steepness of the glial phenotype switch
_BASAL_TOXIC = 0.05  # cytokine release of protective-phenotype glia, relative to toxic
# Ceiling on oxidative stress above baseline (ROS at most 1 + this): antioxidant defences
# and the finite pool of oxidisable substrate saturate the sources. Without it the
# ROS -> misfolding -> aggregates -> ROS loop grows exponentially in some plausible draws.
_ROS_CEILING = 10.0
# Aggregate burden that acts (seeds, sequesters, damages, activates glia) saturates at this
# level: large inclusions add mass but little surface, and are thought to sequester toxic
# oligomers. Without it, aggregates pile up after proteostasis collapses and every process
# they drive speeds up with them, until the solve turns stiff.
_AGGREGATE_CEILING = 10.0
# Apoptotic signalling at which half the surviving axons count as injured (leak NfL). The
# injured fraction saturates early in symptomatic disease, so NfL from injury stays flat
# while the death hazard accelerates (Lu et al. 2015: blood NfL stable over years).
_INJURY_HALF = 0.01
# Days over which the age-related misfolding rises to its full rate, ending at
# `misfolding_delay` (revision 10). A smoothstep, so the vector field stays continuous
# with its time derivative and needs no jump in the solver; at a delay of 0 the factor is
# exactly 1 from day 0, and the vector field is the one before, to the bit.
_DELAY_RAMP = 30.0


def misfolding_switch(t: Float[Array, ""], delay: Float[Array, ""]) -> Array:
    """The share of the age-related misfolding rate reached by day `t`: 0 until 30 days
    before `delay`, rising smoothly (a cubic smoothstep) to exactly 1 at `delay`."""
    s = jnp.clip((t - delay) / _DELAY_RAMP + 1, 0.0, 1.0)
    return s * s * (3 - 2 * s)


def glutamate_calcium(y: Float[Array, " states"], r: dict, drug: Array) -> tuple[Array, Array]:
    """Quasi-steady synaptic glutamate and neuronal calcium (1 = healthy).

    Glutamate: release (blocked by riluzole, raised by toxic microglia) over uptake
    (lost in reactive toxic astrocytes). Calcium: glutamate-driven influx over
    mitochondrial buffering.
    """
    g, s, z, h = y[7], y[8], y[9], y[5]
    release = (1 - r["riluzole_efficacy"] * drug[0]) * (1 + r["microglia_glutamate"] * g * z)
    glutamate = release * (1 + r["eaat2_loss"] * s * z)
    calcium = glutamate * (1 + r["calcium_buffer_loss"] * (1 - h))
    return glutamate, calcium


def death_hazard(y: Float[Array, " states"], r: dict, drug: Array) -> Array:
    """Lower-motor-neuron death hazard (1/day, before the species time scale).

    Four routes: apoptosis (cell-autonomous), excitotoxic calcium overload, oxidative
    damage (revision 8: direct, so that scavenging acts within weeks), and toxic factors
    from glia (non-cell-autonomous).
    """
    ros, x, g, s, z = y[4], y[6], y[7], y[8], y[9]
    _, calcium = glutamate_calcium(y, r, drug)
    return (
        r["apoptotic_death_rate"] * x
        + r["excitotoxic_death_rate"] * jnp.maximum(calcium - 1, 0.0)
        + r["oxidative_death_rate"] * jnp.maximum(ros - 1, 0.0)
        + r["glia_toxicity"] * (g + s) * z
    )


def limb_drugs(drug: Array, r: dict) -> Array:
    """The drug levels that limb neurons and the shared cascade see: riluzole's block
    reaches them by `riluzole_limb_fraction` (revision 6; the respiratory pool gets all of
    it). Multiplying by 1 changes nothing: at 1 the model before revision 6, to the bit."""
    return drug.at[0].multiply(r["riluzole_limb_fraction"])


def cascade(t: Float[Array, ""], y: Float[Array, " states"], args: tuple) -> Array:
    """The vector field on physical rates: `args = (rates, therapy)`.

    `simulate` converts parameters to physical rates once, outside the solver loop, and
    calls this; `vector_field` is the public form on `Params`.
    """
    r, therapy = args
    drug = therapy.active(t)
    # Riluzole's glutamate block reaches the respiratory pool in full and the limb pool
    # and the shared cascade by `riluzole_limb_fraction` (1: every neuron alike; 0: the
    # respiratory pool only, as the trials' survival-but-not-function effect asks).
    limb_drug = limb_drugs(drug, r)
    m, a, q, d, ros, h, x, g, s, z, k, u, l, f, n, v, w = (y[i] for i in range(len(STATE_NAMES)))
    anti = 1 - r["anti_inflammatory_efficacy"] * drug[3]

    # Protein misfolding, seeded aggregation, and proteostasis that aggregates saturate.
    # Revision 10: a carrier's own drive (the terms after the first) may run for years
    # before the age-related misfolding starts (`misfolding_delay`; 0: from day 0).
    ageing = r["misfolding_rate"] * misfolding_switch(t, r["misfolding_delay"])
    production = (
        ageing * (1 + r["ros_misfolding_gain"] * jnp.maximum(ros - 1, 0.0))
        + r["mutant_sod1"] * (1 - r["tofersen_efficacy"] * drug[2])
        + r["rbp_misfolding"]
    )
    burden = a / (1 + a / _AGGREGATE_CEILING)  # the aggregate load that acts
    aggregation = r["aggregation_rate"] * m * (r["aggregate_seed"] + burden)
    dm = production - r["clearance_rate"] * q * m - aggregation
    da = aggregation - r["aggregate_clearance"] * q * a - r["glia_clearance"] * g * (1 - z) * a
    # Revision 9: the burden is carried by neurons, and a dying neuron's goes with it. This
    # slows the seeded growth once neurons die, and with it the hazard's acceleration.
    hazard = death_hazard(y, r, limb_drug)
    da = da - r["aggregate_death_loss"] * hazard * a
    dq = r["proteostasis_recovery"] * (r["autophagy_capacity"] - q) - r[
        "proteostasis_saturation"
    ] * (burden + d) * q
    dd = r["c9_repeat"] - r["dpr_clearance"] * q * d

    # Oxidative stress and mitochondrial dysfunction feed each other.
    _, calcium = glutamate_calcium(y, r, limb_drug)
    excess = r["mito_ros_gain"] * (1 - h) + r["aggregate_ros_gain"] * burden
    excess = excess + r["glia_ros_gain"] * g * z
    ros_source = 1 + excess / (1 + excess / _ROS_CEILING)  # Michaelis-Menten: below 1 + ceiling
    dros = r["ros_clearance"] * (ros_source - (1 + r["edaravone_efficacy"] * drug[1]) * ros)
    damage = (
        r["mito_ros_damage"] * jnp.maximum(ros - 1, 0.0)
        + r["mito_aggregate_damage"] * burden
        + r["mito_calcium_damage"] * jnp.maximum(calcium - 1, 0.0)
    )
    dh = r["mito_repair"] * (1 - h) - damage * h

    # Apoptotic signalling: cytochrome c from failing mitochondria, aggregates, DPRs,
    # and nuclear RNA-processing stress.
    drive = (1 - h) + r["apoptosis_aggregate_gain"] * burden + r["dpr_toxicity"] * d
    drive = drive + r["rna_stress"]
    dx = r["apoptosis_activation"] * drive * (1 - x) - r["apoptosis_resolution"] * x

    # Glia: activation by aggregates and cytokines; a cytokine-driven switch from the
    # protective to the toxic phenotype that makes the loop a vicious cycle. g and s are
    # activated fractions: only resting cells can be recruited (the 1 - g, 1 - s), which
    # caps the glia-cytokine loop where its gain exceeds 1 instead of letting it explode.
    dg = r["microglia_activation"] * (burden + k + hazard * (u + l)) * (1 - g)
    dg = dg - r["microglia_resolution"] * g
    ds = r["astrocyte_activation"] * (burden + k) * (1 - s) - r["astrocyte_resolution"] * s
    switch = k**_SWITCH_HILL / (k**_SWITCH_HILL + r["switch_threshold"] ** _SWITCH_HILL)
    dz = r["phenotype_switch_rate"] * anti * switch * (1 - z) - r["phenotype_reversion"] * z
    dk = r["cytokine_release"] * anti * (g + s) * (_BASAL_TOXIC + z) - r["cytokine_clearance"] * k

    # Motor neurons, muscle (reinnervation hides early loss) and NfL from dying and from
    # injured axons. Injury reads the states but feeds nothing back: only dn sees it.
    # The respiratory pool shares the hazard at its own vulnerability, so breathing (FVC,
    # death) and limb function (ALSFRS-R) can fall at different paces; it alone sees all
    # of riluzole's block (above).
    du = -r["umn_vulnerability"] * hazard * u
    dl = -hazard * l
    dv = -r["respiratory_vulnerability"] * death_hazard(y, r, drug) * v
    half = r["motor_reserve"]
    reserve = half**_RESERVE_HILL

    def innervated(pool: Array) -> Array:
        # Revision 9 blends in a gradual curve (Hill 1: sprouting makes up a little for
        # every neuron lost) that MUNIX asks for; at a blend of 0 the threshold curve alone.
        threshold = pool**_RESERVE_HILL * (1 + reserve) / (reserve + pool**_RESERVE_HILL)
        gradual = pool * (1 + half) / (half + pool)
        return threshold + r["gradual_reinnervation"] * (gradual - threshold)

    df = r["muscle_remodelling"] * (innervated(l) - f)
    dw = r["muscle_remodelling"] * (innervated(v) - w)
    stressed = jnp.maximum(x, 0.0)
    # Revision 10: C9orf72's dipeptide repeats injure axons as misfolded protein does.
    toxic = m + r["dpr_injury"] * d
    injury = r["nfl_injury_release"] * toxic**2 * stressed / (stressed + _INJURY_HALF) * (u + l)
    # Revision 11: or directly, in proportion to their load, whether or not apoptotic
    # signalling has started; this adds the same leak after onset as before it.
    injury = injury + r["dpr_axon_injury"] * d * (u + l)
    dn = r["nfl_clearance"] * (r["nfl_baseline"] - n) + r["nfl_release"] * (-du - dl + injury)

    dy = jnp.stack([dm, da, dq, dd, dros, dh, dx, dg, ds, dz, dk, du, dl, df, dn, dv, dw])
    return r["time_scale"] * dy


def vector_field(
    t: Float[ArrayLike, ""], y: Float[Array, " states"], p: Params, therapy: Therapy | None = None
) -> Float[Array, " states"]:
    """dy/dt of the cascade, with diffrax's `(t, y, args)` signature (args = `Params`).

    Pure: jit-, vmap- and grad-compatible. `therapy` defaults to no drug.
    """
    therapy = no_therapy() if therapy is None else therapy
    return cascade(jnp.asarray(t), y, (physical(p), therapy))


def initial_state(p: Params) -> Float[Array, " states"]:
    """The healthy state at t = 0, in the order of `STATE_NAMES`."""
    r = physical(p)
    one, zero = jnp.ones_like(r["nfl_baseline"]), jnp.zeros_like(r["nfl_baseline"])
    q0 = r["autophagy_capacity"] * one
    return jnp.stack(
        [zero, zero, q0, zero, one, one, zero, zero, zero, zero, zero, one, one, one,
         r["nfl_baseline"], one, one],
        axis=-1,
    )


def default_params(genotype: str = "sporadic", species: str = "human", *,
                   preset_version: str = LATEST_PRESET) -> Params:
    """The preset parameters of a genotype and species.

    Genotypes change specific mechanisms: SOD1 adds misfolded mutant SOD1; C9orf72 adds
    RNA foci and dipeptide repeats and lowers autophagy capacity; TARDBP and FUS add
    mislocalised RNA-binding protein and RNA-processing stress. The `mouse` preset is the
    SOD1-G93A mouse on its own clock (days of age); no other mouse line is modelled.

    `preset_version`: one of `PRESET_VERSIONS` (default the newest, calibrated one);
    `"legacy"` gives the hand-tuned values from before calibration, which reproduce earlier
    results (docs/model.md, *Preset versions*). Raises `ALSJaxError` for an unknown name.
    """
    values = preset_values(genotype, species, preset_version)
    return Params.from_physical(**values)


assert len(DRUGS) == 4  # the vector field indexes drugs by position
