"""The cascade's parameters: one frozen pytree, its field names are the public names.

Every parameter is stored on an unconstrained scale so optimisers and samplers can move
freely: positive rates and gains as their natural log (`transform="log"`), fractions in
(0, 1) as their logit (`transform="logit"`), and genotype drive terms, which are exactly
zero in genotypes that lack them, as plain non-negative numbers (`transform="none"`), and
switches between model structures, which may be exactly 0 or 1, as plain numbers in [0, 1]
(`transform="fraction"`).
`physical(p)` gives the values in their units; `Params.from_physical(...)` builds one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._errors import ALSJaxError, did_you_mean
from ._transforms import TRANSFORMS, Transform


class ParamInfo(NamedTuple):
    """What a user needs to know about one parameter."""

    name: str
    unit: str
    transform: str  # "log", "logit", "none" or "fraction": the key of its `Transform`
    doc: str


def _p(unit: str, doc: str, transform: str = "log") -> Any:
    return eqx.field(
        converter=jnp.asarray, metadata=dict(unit=unit, transform=transform, doc=doc)
    )


class Params(eqx.Module):
    """Parameters of the ALS cascade (time in days; stored on the unconstrained scale).

    Build one with `alsjax.default_params(genotype, species)`; change values with
    `p.replace(name=physical_value, ...)`. Batched parameters (a leading axis on every
    field) are what `jax.vmap` and `alsjax.simulate_batch` take.
    """

    # Species time scale: every rate in the vector field is multiplied by it.
    time_scale: Float[Array, "*b"] = _p("1", "Multiplies every rate: the species' clock")

    # Protein misfolding, aggregation and proteostasis
    misfolding_rate: Float[Array, "*b"] = _p(
        "a.u./day", "Age-related production of misfolded protein (all genotypes)")
    misfolding_delay: Float[Array, "*b"] = _p(
        "day", "Day the age-related misfolding reaches full rate (rising over the 30 days "
        "before); a genotype's own drive runs from day 0 (revision 10; 0 before)", "none")
    ros_misfolding_gain: Float[Array, "*b"] = _p(
        "1", "Extra misfolding per unit of oxidative stress above baseline")
    mutant_sod1: Float[Array, "*b"] = _p(
        "a.u./day", "Production of misfolded mutant SOD1 (SOD1 only; tofersen target)", "none")
    rbp_misfolding: Float[Array, "*b"] = _p(
        "a.u./day", "Mislocalised RNA-binding protein, TDP-43 or FUS (TARDBP, FUS)", "none")
    c9_repeat: Float[Array, "*b"] = _p(
        "a.u./day", "Production of C9orf72 RNA foci and dipeptide-repeat proteins", "none")
    rna_stress: Float[Array, "*b"] = _p(
        "1", "Nuclear RNA-processing stress that drives apoptosis (TARDBP, FUS)", "none")
    clearance_rate: Float[Array, "*b"] = _p(
        "1/day", "Clearance of soluble misfolded protein at full proteostasis")
    aggregation_rate: Float[Array, "*b"] = _p(
        "1/(a.u. day)", "Seeded aggregation of misfolded protein")
    aggregate_seed: Float[Array, "*b"] = _p(
        "a.u.", "Primary nucleation expressed as an equivalent aggregate seed")
    aggregate_clearance: Float[Array, "*b"] = _p(
        "1/day", "Autophagic clearance of aggregates at full proteostasis")
    aggregate_death_loss: Float[Array, "*b"] = _p(
        "1", "Share of the limb death hazard at which aggregates leave with the neurons "
        "that carry them (revision 9; 0 before)", "fraction")
    dpr_clearance: Float[Array, "*b"] = _p(
        "1/day", "Clearance of dipeptide-repeat proteins at full proteostasis")
    autophagy_capacity: Float[Array, "*b"] = _p(
        "1", "Healthy proteostasis capacity (autophagy + proteasome); C9orf72 lowers it "
        "(0.7 in its presets before 2026.12.11)")
    proteostasis_recovery: Float[Array, "*b"] = _p(
        "1/day", "Rate at which proteostasis capacity recovers")
    proteostasis_saturation: Float[Array, "*b"] = _p(
        "1/(a.u. day)", "Sequestration of proteostasis machinery by aggregates and DPRs")

    # Oxidative stress and mitochondria
    ros_clearance: Float[Array, "*b"] = _p(
        "1/day", "Relaxation rate of oxidative stress (antioxidant capacity)")
    mito_ros_gain: Float[Array, "*b"] = _p(
        "1", "ROS from dysfunctional mitochondria (per unit function lost)")
    aggregate_ros_gain: Float[Array, "*b"] = _p(
        "1/a.u.", "ROS from aggregates (mutant SOD1 peroxidase activity and others)")
    glia_ros_gain: Float[Array, "*b"] = _p(
        "1", "ROS from toxic-phenotype microglia (NOX2)")
    mito_repair: Float[Array, "*b"] = _p("1/day", "Mitochondrial turnover and repair")
    mito_ros_damage: Float[Array, "*b"] = _p(
        "1/day", "Mitochondrial damage per unit oxidative stress above baseline")
    mito_aggregate_damage: Float[Array, "*b"] = _p(
        "1/(a.u. day)", "Mitochondrial damage by aggregates in the outer membrane")
    mito_calcium_damage: Float[Array, "*b"] = _p(
        "1/day", "Mitochondrial damage by calcium overload")

    # Glutamate excitotoxicity (glutamate and calcium are quasi-steady explicit terms)
    eaat2_loss: Float[Array, "*b"] = _p(
        "1", "Loss of astrocytic glutamate uptake (EAAT2) per reactive toxic astrocyte")
    microglia_glutamate: Float[Array, "*b"] = _p(
        "1", "Glutamate released by toxic-phenotype microglia")
    calcium_buffer_loss: Float[Array, "*b"] = _p(
        "1", "Calcium rise per unit of mitochondrial buffering lost")

    # Apoptosis and neuron death
    apoptosis_activation: Float[Array, "*b"] = _p(
        "1/day", "Activation of apoptotic signalling (cytochrome c, caspases)")
    apoptosis_resolution: Float[Array, "*b"] = _p(
        "1/day", "Resolution of apoptotic signalling in surviving neurons")
    apoptosis_aggregate_gain: Float[Array, "*b"] = _p(
        "1/a.u.", "Apoptotic drive from aggregates, relative to mitochondrial loss")
    dpr_toxicity: Float[Array, "*b"] = _p(
        "1/a.u.", "Apoptotic drive from DPRs and RNA foci, relative to mitochondrial loss")
    apoptotic_death_rate: Float[Array, "*b"] = _p(
        "1/day", "Neuron death hazard at full apoptotic signalling")
    excitotoxic_death_rate: Float[Array, "*b"] = _p(
        "1/day", "Neuron death hazard per unit calcium overload")
    oxidative_death_rate: Float[Array, "*b"] = _p(
        "1/day", "Neuron death hazard per unit oxidative stress above baseline (lipid "
        "peroxidation; edaravone's fast route)", "none")
    glia_toxicity: Float[Array, "*b"] = _p(
        "1/day", "Non-cell-autonomous death hazard per unit toxic glia")
    umn_vulnerability: Float[Array, "*b"] = _p(
        "1", "Upper motor neuron hazard relative to lower motor neurons")
    respiratory_vulnerability: Float[Array, "*b"] = _p(
        "1", "Respiratory (phrenic) motor neuron hazard relative to limb lower motor neurons")

    # Glia and inflammation
    microglia_activation: Float[Array, "*b"] = _p(
        "1/day", "Microglial activation by aggregates, cytokines and neuron death")
    microglia_resolution: Float[Array, "*b"] = _p("1/day", "Return of microglia to rest")
    astrocyte_activation: Float[Array, "*b"] = _p(
        "1/day", "Astrocyte activation by aggregates and cytokines")
    astrocyte_resolution: Float[Array, "*b"] = _p("1/day", "Return of astrocytes to rest")
    glia_clearance: Float[Array, "*b"] = _p(
        "1/day", "Phagocytic clearance of aggregates by protective-phenotype glia")
    phenotype_switch_rate: Float[Array, "*b"] = _p(
        "1/day", "Switch of activated glia to the toxic phenotype, at full cytokine drive")
    phenotype_reversion: Float[Array, "*b"] = _p(
        "1/day", "Return of toxic glia to the protective phenotype")
    switch_threshold: Float[Array, "*b"] = _p(
        "a.u.", "Cytokine level at half-maximal phenotype switching (Hill 4)")
    cytokine_release: Float[Array, "*b"] = _p(
        "1/day", "Pro-inflammatory cytokine release by activated glia")
    cytokine_clearance: Float[Array, "*b"] = _p("1/day", "Cytokine clearance")

    # Muscle, function and biomarkers
    motor_reserve: Float[Array, "*b"] = _p(
        "1", "Surviving LMN fraction at which reinnervation keeps half the muscle function")
    gradual_reinnervation: Float[Array, "*b"] = _p(
        "1", "Share of reinnervation that gives way gradually (Hill 1) rather than at a "
        "threshold (Hill 4) as neurons are lost (revision 9; 0 before)", "fraction")
    muscle_remodelling: Float[Array, "*b"] = _p(
        "1/day", "Rate at which muscle function follows innervation (atrophy)")
    spasticity_weight: Float[Array, "*b"] = _p(
        "1", "Function lost to spasticity at complete UMN loss", "logit")
    nfl_baseline: Float[Array, "*b"] = _p("pg/mL", "Serum neurofilament light in health")
    nfl_release: Float[Array, "*b"] = _p(
        "pg/mL", "Serum NfL released per motor-neuron fraction lost, before clearance")
    nfl_clearance: Float[Array, "*b"] = _p("1/day", "Serum NfL clearance (ln 2 / half-life)")
    nfl_injury_release: Float[Array, "*b"] = _p(
        "1/(a.u.^2 day)", "NfL leak from injured axons: neuron-fraction equivalents per day "
        "per squared soluble misfolded protein", "none")
    dpr_injury: Float[Array, "*b"] = _p(
        "1", "Axonal injury per dipeptide repeat, relative to a misfolded protein's: NfL "
        "leaks in proportion to (misfolded + dpr_injury x dpr)^2 (revision 10; 0 before)",
        "none")
    dpr_axon_injury: Float[Array, "*b"] = _p(
        "1/(a.u. day)", "NfL leak from axons that dipeptide repeats injure directly: "
        "neuron-fraction equivalents per day per unit of repeats, linear and without "
        "apoptotic signalling (revision 11; 0 before)", "none")

    # Event thresholds
    onset_threshold: Float[Array, "*b"] = _p(
        "1", "Motor function (ALSFRS-R / 48) below which symptoms are noticed", "logit")
    death_threshold: Float[Array, "*b"] = _p(
        "1", "Respiratory function (FVC / 100) below which death or ventilation", "logit")
    end_stage_threshold: Float[Array, "*b"] = _p(
        "1", "Limb muscle function at paralysis of both hind limbs (mouse)", "logit")
    arm_event_spread: Float[Array, "*b"] = _p(
        "1", "SD of log event days between the patients of an arm summarised by one course "
        "(read only by the likelihood of arm summaries of events)")

    # Therapy efficacies (effects apply only while a drug is on)
    riluzole_efficacy: Float[Array, "*b"] = _p(
        "1", "Fraction of presynaptic glutamate release blocked by riluzole", "logit")
    riluzole_limb_fraction: Float[Array, "*b"] = _p(
        "1", "Share of riluzole's block reaching limb neurons and the shared cascade "
        "(the respiratory pool gets all of it)", "fraction")
    edaravone_efficacy: Float[Array, "*b"] = _p(
        "1", "Extra ROS scavenging by edaravone, relative to intrinsic clearance")
    tofersen_efficacy: Float[Array, "*b"] = _p(
        "1", "Fraction of mutant SOD1 synthesis knocked down by tofersen", "logit")
    anti_inflammatory_efficacy: Float[Array, "*b"] = _p(
        "1", "Fraction of cytokine release and phenotype switching blocked", "logit")

    @classmethod
    def from_physical(cls, **values: ArrayLike) -> Params:
        """Build parameters from physical values (every field must be given)."""
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in values]
        if missing:
            raise ALSJaxError(f"missing parameter(s): {', '.join(missing)}")
        unknown = [k for k in values if k not in PARAMETER_NAMES]
        if unknown:
            raise ALSJaxError(unknown_parameter(unknown[0]))
        return cls(**{k: parameter_transform(k).to_stored(v) for k, v in values.items()})

    def replace(self, **values: ArrayLike) -> Params:
        """A copy with some parameters set to new *physical* values."""
        stored = {k: parameter_transform(k).to_stored(v) for k, v in values.items()}
        return dataclasses.replace(self, **stored)


PARAMETERS: tuple[ParamInfo, ...] = tuple(
    ParamInfo(f.name, f.metadata["unit"], f.metadata["transform"], f.metadata["doc"])
    for f in dataclasses.fields(Params)
)
PARAMETER_NAMES: tuple[str, ...] = tuple(i.name for i in PARAMETERS)
_TRANSFORMS: dict[str, Transform] = {i.name: TRANSFORMS[i.transform] for i in PARAMETERS}


def unknown_parameter(name: str) -> str:
    """The message for a name that is not a parameter, with the closest one."""
    return f"unknown parameter {name!r}{did_you_mean(name, PARAMETER_NAMES)}; " \
        "`alsjax params` lists them"


def parameter_transform(name: str) -> Transform:
    """How parameter `name` is stored; `ALSJaxError` for an unknown name."""
    try:
        return _TRANSFORMS[name]
    except KeyError:
        raise ALSJaxError(unknown_parameter(name)) from None


def to_physical(name: str, stored: ArrayLike) -> Array:
    """One stored value to its physical value."""
    return parameter_transform(name).to_physical(stored)


def physical(p: Params) -> dict[str, Array]:
    """All parameters in their physical units, as a dict keyed by field name."""
    return {name: _TRANSFORMS[name].to_physical(getattr(p, name)) for name in PARAMETER_NAMES}
