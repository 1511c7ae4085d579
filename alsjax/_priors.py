"""Plausible ranges of the parameters: a prior per genotype and species.

Each parameter's range is centred on its preset (the median of the prior is the preset;
`prior(population=True)`, the default for the newest preset versions, moves the death
rates' medians and sets the guessed spreads, and those of the groups calibrated on their
own, so that the draws die as a cohort does and spread serum NfL as patients do) and has
the form its storage suggests:

- log-stored rates and gains: log-normal, written as a geometric SD (GSD: about 68 % of
  draws lie within preset / GSD .. preset x GSD, 95 % within GSD squared);
- logit-stored fractions: logit-normal, written as the SD of the logit;
- plain genotype drives: log-normal on the value (GSD) where the genotype has the
  mechanism, and exactly zero where it does not (a point mass, not a random variable);
- structural switches (`riluzole_limb_fraction`): fixed at the preset's value.

Almost every spread is a guess, like the values it surrounds (see docs/model.md): the table
says so, and names the source where one exists. A prior's `loc` and `scale` are the mean and
SD of a normal on the stored value (for a plain drive: on the log of the stored value), so a
fit can use them directly and a synthetic cohort can draw from them.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from statistics import NormalDist
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._errors import ALSJaxError
from ._model import default_params
from ._params import PARAMETER_NAMES, PARAMETERS, Params, parameter_transform, unknown_parameter
from ._presets import LATEST_PRESET


class Range(NamedTuple):
    """One parameter's plausible range around its preset.

    `spread`: the GSD (log-normal, > 1) for log-stored and plain parameters, the SD of the
    logit for logit-stored ones; None for a parameter held fixed.
    """

    spread: float | None
    source: str  # a citation, or "guess"
    why: str  # one line of reasoning


_GUESS = 1.5  # GSD of a rate nobody has measured: a 95 % range of x/÷ 2.25 around the preset

# fmt: off
RANGES: dict[str, Range] = {
    "time_scale": Range(None, "definition",
                        "human days define the clock; mouse: see MOUSE_RANGES"),
    "misfolding_rate": Range(_GUESS, "guess", "sets the age at onset, which varies by decades"),
    "misfolding_delay": Range(_GUESS, "Benatar 2019 (C9orf72's lead), Mackenzie 2007 "
                              "(SOD1); spread a guess",
                              "C9orf72: NfL rises about 3.5 years before onset, and age at "
                              "onset varies by decades; SOD1: a century, never within a "
                              "course (no TDP-43 pathology, Mackenzie 2007); 0 in the others"),
    "ros_misfolding_gain": Range(_GUESS, "guess", "oxidation promotes misfolding; no human rate"),
    "mutant_sod1": Range(2.0, "Bali 2017 (median survival); spread a guess",
                         "SOD1 variants range from aggressive (A4V: median survival 1.2 "
                         "years) to slow (the others: 6.8); mouse: transgene copy number "
                         "(MOUSE_RANGES)"),
    "rbp_misfolding": Range(_GUESS, "guess", "TDP-43 / FUS variants differ in aggregation "
                            "propensity"),
    "c9_repeat": Range(_GUESS, "guess", "repeat length varies widely between carriers"),
    "rna_stress": Range(_GUESS, "guess", "size of the nuclear loss of function is unknown"),
    "clearance_rate": Range(_GUESS, "guess", "proteasome/autophagy turnover, no human rate"),
    "aggregation_rate": Range(_GUESS, "guess", "seeded growth rate in vivo is unknown"),
    "aggregate_seed": Range(_GUESS, "guess", "primary nucleation is rare and unmeasured"),
    "aggregate_clearance": Range(_GUESS, "guess", "aggrephagy rate, no human rate"),
    "dpr_clearance": Range(_GUESS, "guess", "DPR half-life in neurons unmeasured in vivo"),
    "autophagy_capacity": Range(1.1, "guess", "1 by definition in health (and in the C9orf72 "
                                "preset since 2026.12.11, whose NfL level asks for it); C9orf72 "
                                "haploinsufficiency lowers it by a partly known amount"),
    "proteostasis_recovery": Range(_GUESS, "guess", "chaperone / autophagy induction, days"),
    "proteostasis_saturation": Range(_GUESS, "guess", "sequestration strength unknown"),
    "ros_clearance": Range(_GUESS, "guess", "antioxidant capacity varies between people"),
    "mito_ros_gain": Range(_GUESS, "guess", "ROS per unit of lost mitochondrial function"),
    "aggregate_ros_gain": Range(_GUESS, "guess", "SOD1 peroxidase and other aggregate ROS"),
    "glia_ros_gain": Range(_GUESS, "guess", "NOX2 output of toxic microglia"),
    "mito_repair": Range(_GUESS, "guess", "mitophagy and biogenesis, weeks to months"),
    "mito_ros_damage": Range(_GUESS, "guess", "damage per unit of oxidative stress"),
    "mito_aggregate_damage": Range(_GUESS, "guess", "outer-membrane damage by aggregates"),
    "mito_calcium_damage": Range(_GUESS, "Le Masson 2014 (the link); size a guess",
                                 "energy failure and calcium overload feed each other"),
    "eaat2_loss": Range(_GUESS, "Rothstein 1995 (the loss); size a guess",
                        "EAAT2 loss is large but varies between patients"),
    "microglia_glutamate": Range(_GUESS, "guess", "glutamate release by toxic microglia"),
    "calcium_buffer_loss": Range(_GUESS, "Le Masson 2014 (the link); size a guess",
                                 "calcium rise per unit of mitochondrial buffering lost"),
    "apoptosis_activation": Range(_GUESS, "guess", "caspase activation kinetics in vivo"),
    "apoptosis_resolution": Range(_GUESS, "guess", "inhibitor-of-apoptosis recovery"),
    "apoptosis_aggregate_gain": Range(_GUESS, "guess", "aggregate toxicity vs mitochondria"),
    "dpr_toxicity": Range(_GUESS, "guess", "DPR toxicity vs mitochondria; poly-GR vs GA differ"),
    "apoptotic_death_rate": Range(1.4, "Chio 2009 (survival spread)",
                                  "median fitted to function and survival (2026.12.6); "
                                  "patients span 1-10 years"),
    "excitotoxic_death_rate": Range(_GUESS, "guess", "calcium-overload death per unit"),
    "oxidative_death_rate": Range(2.0, "Al-Chalabi 2020 (MCI186-19 arms)",
                                  "fitted to edaravone's 24-week effect: 95 % "
                                  "0.00023-0.0063; mouse: 0 (no route)"),
    "glia_toxicity": Range(1.4, "Boillee 2006 (glia set progression)",
                           "calibrated by hand; glia change the pace, not the onset"),
    "umn_vulnerability": Range(1.6, "guess", "phenotypes run from UMN- to LMN-predominant"),
    "respiratory_vulnerability": Range(1.5, "guess", "median fitted to survival (2026.12.5); "
                                       "respiratory failure comes early in some patients, "
                                       "late in others"),
    "microglia_activation": Range(_GUESS, "guess", "recruitment of resting microglia"),
    "microglia_resolution": Range(_GUESS, "guess", "return to rest, weeks"),
    "astrocyte_activation": Range(_GUESS, "guess", "recruitment of resting astrocytes"),
    "astrocyte_resolution": Range(_GUESS, "guess", "return to rest, weeks to months"),
    "glia_clearance": Range(_GUESS, "guess", "phagocytosis by protective glia"),
    "phenotype_switch_rate": Range(_GUESS, "guess", "M1-like switching at full drive"),
    "phenotype_reversion": Range(_GUESS, "guess", "return to the protective phenotype"),
    "switch_threshold": Range(1.3, "Burlando 2020 (a bistable switch)",
                              "calibrated by hand; sets when the vicious cycle ignites"),
    "cytokine_release": Range(_GUESS, "guess", "release per activated glial cell"),
    "cytokine_clearance": Range(_GUESS, "guess", "cytokine half-lives are hours to days"),
    "motor_reserve": Range(1.15, "guess", "reinnervation hides early loss; kept below 1"),
    "muscle_remodelling": Range(1.4, "guess", "denervation atrophy over weeks to months"),
    "spasticity_weight": Range(0.5, "guess", "spasticity's share of disability varies"),
    "nfl_baseline": Range(1.4, "Barro 2020", "healthy serum NfL about 5-20 pg/mL, rising with "
                          "age"),
    "nfl_release": Range(1.8, "Benatar 2018; Lu 2015", "ALS serum NfL spans tens to hundreds "
                         "of pg/mL between patients"),
    "nfl_clearance": Range(1.4, "Barro 2020", "blood NfL half-life of weeks"),
    "dpr_injury": Range(_GUESS, "Benatar 2019 (with misfolding_delay); size a guess",
                        "C9orf72 in 2026.12.10 only: set so NfL leads onset by about 3.5 "
                        "years"),
    "dpr_axon_injury": Range(_GUESS, "Benatar 2019 (with misfolding_delay); size a guess",
                             "C9orf72 only: with misfolding_delay, NfL leads onset by about "
                             "3.5 years and sits near sporadic disease's after (Saracino 2021)"),
    "nfl_injury_release": Range(2.0, "Gaiottino 2013 (level); size a guess",
                                "calibrated to ALS / healthy about 29; injury is unmeasured; "
                                "mouse: 0 (NfL not calibrated there)"),
    "onset_threshold": Range(0.3, "guess", "about 2-7 % of function lost before symptoms "
                             "are noticed"),
    "death_threshold": Range(0.4, "guess", "respiratory failure or ventilation at FVC about "
                             "15-40 %"),
    "end_stage_threshold": Range(0.2, "Solomon 2011", "calibrated to CS4; scoring is "
                                 "consistent within one lab"),
    "riluzole_efficacy": Range(0.5, "Bensimon 1994; Lacomblez 1996",
                               "fitted to Bensimon's survival (95 % 0.070-0.293); trials' "
                               "CIs are wide"),
    "arm_event_spread": Range(1.3, "guess; Testa 2004 implies 0.72-0.77",
                              "patients of one arm die over years; trials enrolled at mixed "
                              "stages spread more"),
    "riluzole_limb_fraction": Range(None, "Bensimon 1994; Lacomblez 1996",
                                    "a structural switch, not a spread: survival but no "
                                    "functional effect asks for 0 (docs/model.md, rev. 6)"),
    "aggregate_death_loss": Range(None, "Ebersbach 2023; docs/validation.md, item 9",
                                  "a structural switch, not a spread: 1 since revision 9 "
                                  "(docs/model.md)"),
    "gradual_reinnervation": Range(None, "Ebersbach 2023; docs/validation.md, item 9",
                                   "a structural switch, not a spread: MUNIX halves before "
                                   "function asks for 1 (docs/model.md, rev. 9)"),
    "edaravone_efficacy": Range(2.0, "fitted from 2026.12.9: MCI186-19 with Brooks 2022's "
                                "survival and the natural history (profile 0.014-0.039); "
                                "a guess before (0.1, then 0.05)",
                                "one positive trial in a selected population; real-world "
                                "survival gains of 0-6 months (Witzel 2022; Brooks 2022)"),
    "tofersen_efficacy": Range(0.5, "Miller 2022", "CSF SOD1 fell about 35 %; "
                               "knock-down in neurons is unmeasured"),
    "anti_inflammatory_efficacy": Range(0.7, "guess", "no approved anti-inflammatory "
                                        "therapy to calibrate on"),
}
# fmt: on

MOUSE_RANGES: dict[str, Range] = {
    "time_scale": Range(1.08, "Solomon 2011", "end stage 123.9 +/- 10.3 d: CV about 8 %"),
    "mutant_sod1": Range(1.3, "guess", "transgene copy number drifts in G93A colonies"),
    "umn_vulnerability": Range(1.6, "Zang 2002 (median); spread as human",
                               "fitted to 53 % corticospinal loss at 110 d: 2.99, profile "
                               "2.15-4.09 (legacy median 0.7)"),
}

# The rates of the four routes of motor-neuron death (`_model.death_hazard`): scaling them
# together scales the hazard, the pace of the disease once it has begun.
DEATH_RATES = ("apoptotic_death_rate", "excitotoxic_death_rate", "oxidative_death_rate",
               "glia_toxicity")


class PopulationCalibration(NamedTuple):
    """How a preset version's prior becomes a population (`prior(population=True)`).

    The presets were fitted as one patient per trial arm. Spreading every rate about that
    patient shortens the median draw's life (survival falls faster than linearly as the
    cascade's drives rise), so a prior centred on the preset dies sooner than the cohorts
    it was fitted to. Two numbers per version, fitted to the survival curve from onset of
    Testa 2004 (sporadic, human) by fit/published/prior_centre.py:

    - `guess_spread`: the GSD of every human rate whose spread is the unmeasured `_GUESS`;
    - `death_rate_factor`: per (genotype, species), the factor on the medians of
      `DEATH_RATES` (sporadic: fitted with the spread; the others: so that the draws'
      median survival from onset is their preset's; the mouse keeps its recorded spreads);
    - `spreads`: GSDs of named human parameters that replace their `RANGES` spread (or the
      `guess_spread`) in the population prior: groups calibrated on their own (since
      2026.12.7, the proteostasis rates, fitted with the other two numbers to survival and to
      serum NfL's spread between patients, and the NfL parameters, narrowed).
    """

    guess_spread: float
    death_rate_factor: dict[tuple[str, str], float]
    spreads: dict[str, float] = {}  # a shared default, never mutated


NFL_SPREADS: dict[str, float] = {"nfl_release": 1.2, "nfl_clearance": 1.2,
                                 "nfl_injury_release": 1.2}
"""The NfL parameters' spreads (GSD) from 2026.12.7 on: guesses, narrowed so the cascade's
own spread of NfL between patients is not doubled (fit/published/prior_centre.py)."""

# fit/published/prior_centre.py, 10,000 draws (seed 0), 2026-12-05; docs/validation.md,
# *Heterogeneity*. Sporadic: died by 1 / 3 / 5 years 0.065 / 0.534 / 0.742 against Testa's
# 0.07 / 0.52 / 0.76, deviance 5.8 on 1 df; median 33.8 months (preset 35.2). The others:
# median survival from onset that of their preset (SOD1 21.0, C9orf72 26.1, TARDBP 28.4,
# FUS 25.6 months); the mouse's draws already had its preset's (1.84 against 1.82 months).
POPULATION: dict[str, PopulationCalibration] = {
    "2026.12.6": PopulationCalibration(guess_spread=1.730, death_rate_factor={
        ("sporadic", "human"): 0.3481,
        ("SOD1", "human"): 0.4421,
        ("C9orf72", "human"): 0.3902,
        ("TARDBP", "human"): 0.3553,
        ("FUS", "human"): 0.3805,
        ("SOD1", "mouse"): 1.0,
    }),
    # fit/published/prior_centre.py, 10,000 draws (seed 0), 2026-12-06; the guessed spread,
    # the proteostasis rates' spread and the sporadic factor fitted to Testa 2004's curve
    # (died by 1 / 3 / 5 years 0.069 / 0.523 / 0.760 against 0.07 / 0.52 / 0.76) and to
    # Sugimoto 2020's log SD of serum NfL (0.696 against 0.657, 30 patients) together:
    # deviance 0.29 on 1 df. The proteostasis spread's profile: deviance +0.3 at GSD 1.1,
    # +1.8 at 1.2, +8.5 at 1.4 (the model's NfL, rising with the square of the soluble
    # misfolded pool, leaves the pool's rates little room to vary). The NfL spreads are
    # guesses (prior_centre.NFL_SPREADS). The others' factors: median survival from onset
    # that of their preset, as for 2026.12.6; the mouse keeps its recorded spreads.
    "2026.12.7": PopulationCalibration(guess_spread=1.852, death_rate_factor={
        ("sporadic", "human"): 0.3412,
        ("SOD1", "human"): 0.4444,
        ("C9orf72", "human"): 0.3818,
        ("TARDBP", "human"): 0.3508,
        ("FUS", "human"): 0.3723,
        ("SOD1", "mouse"): 1.0,
    }, spreads={"misfolding_rate": 1.040, "clearance_rate": 1.040, **NFL_SPREADS}),
    # fit/published/prior_centre.py, 10,000 draws (seed 0), 2026-12-06; as for 2026.12.7,
    # under revision 9's presets: died by 1 / 3 / 5 years 0.067 / 0.523 / 0.757 against
    # Testa's 0.07 / 0.52 / 0.76, serum NfL's log SD 0.657 against Sugimoto's 0.657: total
    # deviance 0.34 on 1 df; median 34.3 months (preset 35.1). The proteostasis spread's
    # profile: +0.3 at GSD 1.1, +1.3 at 1.2, +10.3 at 1.4. The others' factors: median
    # survival from onset that of their preset; the mouse keeps its recorded spreads.
    "2026.12.8": PopulationCalibration(guess_spread=1.654, death_rate_factor={
        ("sporadic", "human"): 0.4359,
        ("SOD1", "human"): 0.4331,
        ("C9orf72", "human"): 0.4169,
        ("TARDBP", "human"): 0.3936,
        ("FUS", "human"): 0.3937,
        ("SOD1", "mouse"): 1.0,
    }, spreads={"misfolding_rate": 1.122, "clearance_rate": 1.122, **NFL_SPREADS}),
}
# 2026.12.9 changes edaravone's efficacy only, which no untreated draw reads: the
# calibration of 2026.12.8 holds unchanged.
POPULATION["2026.12.9"] = POPULATION["2026.12.8"]
# 2026.12.10 changes the C9orf72 preset only (revision 10), and keeps 2026.12.8's
# calibration for it too: no factor on the death rates gives its draws the preset's median
# survival from onset (29.2 months). `prior_centre.py --genotype C9orf72` (2,000 draws,
# 2026-12-07): 31.0 months at factor 1, 32.7 at 0.36 and 31.3 at 1.13; draws whose rates
# kill faster in the prodrome reach onset there, before the shared cascade starts, so
# faster death lengthens survival from onset as often as it shortens it. At the kept factor
# (0.4169) the draws' median is 32.0 months (4,000 draws; docs/model.md, revision 10).
POPULATION["2026.12.10"] = POPULATION["2026.12.8"]
# 2026.12.11 changes the C9orf72 preset only (revision 11) and keeps the same calibration:
# at it the C9orf72 draws' median survival from onset is 35.7 months against the preset's
# 34.9 (10,000 draws, benchmarks/bench_robustness.py, 2026-12-08), closer than 2026.12.10's.
POPULATION["2026.12.11"] = POPULATION["2026.12.8"]
# 2026.12.12 changes the SOD1 preset only and keeps the same calibration (its survival is
# fitted on the preset, as 2026.12.11's C9orf72 was set on it).
POPULATION["2026.12.12"] = POPULATION["2026.12.8"]

# Parameters added after preset version 2026.12.7 each draw their normals from a key of
# their own (folded from the name) instead of a column of the one joint draw, whose shape
# would change with them: so a new parameter moves no other parameter's draws, and every
# prior-based number recorded before it stays reproducible.
DRAWN_ALONE: tuple[str, ...] = ("aggregate_death_loss", "gradual_reinnervation",
                                 "misfolding_delay", "dpr_injury", "dpr_axon_injury")


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


_KIND = {"log": "normal", "logit": "normal", "none": "lognormal", "fraction": "fixed"}
_LOG_2PI = math.log(2 * math.pi)


class Prior(eqx.Module):
    """A product of independent normals on the stored scale (log-normals for plain drives).

    - `loc`, `scale`: `Params` holding, for each parameter, the mean and SD of the normal
      its stored value follows (`kinds[name] == "normal"`) or the log of its stored value
      follows (`"lognormal"`: the plain genotype drives); `scale` is 0 where `"fixed"`.
    - `kinds`: name -> "normal", "lognormal" or "fixed" (`kind` holds the same, in the
      order of `PARAMETER_NAMES`).

    `sample` draws parameter sets; `log_prob` is their log density on the stored scale.
    """

    loc: Params
    scale: Params
    kind: tuple[str, ...] = eqx.field(static=True)

    @property
    def kinds(self) -> dict[str, str]:
        return dict(zip(PARAMETER_NAMES, self.kind, strict=True))

    def median(self) -> Params:
        """The median parameter set: the preset the prior was built around (with the death
        rates scaled where the prior is centred on the population, `prior`)."""
        return Params(**{
            n: jnp.exp(getattr(self.loc, n)) if k == "lognormal" else getattr(self.loc, n)
            for n, k in self.kinds.items()
        })

    def sample(self, key: PRNGKeyArray, n: int) -> Params:
        """`n` independent draws, as `Params` with a leading axis `n` on every field.

        Reproducible: the same key gives the same draws (one normal per parameter and draw),
        and a parameter added to the model leaves the others' draws as they were
        (`DRAWN_ALONE`).
        """
        names = list(self.kinds)
        loc = jnp.stack([getattr(self.loc, k) for k in names])
        together = [k for k in names if k not in DRAWN_ALONE]
        z_together = jax.random.normal(key, (n, len(together)), loc.dtype)
        z = dict(zip(together, z_together.T, strict=True))
        for k in DRAWN_ALONE:
            z[k] = jax.random.normal(jax.random.fold_in(key, _name_key(k)), (n,), loc.dtype)
        z = jnp.stack([z[k] for k in names], axis=1)
        scale = jnp.stack([getattr(self.scale, k) for k in names])
        stored = loc[None, :] + z * scale[None, :]
        lognormal = jnp.asarray([self.kinds[k] == "lognormal" for k in names])
        stored = jnp.where(lognormal[None, :], jnp.exp(stored), stored)
        return Params(**{k: stored[:, i] for i, k in enumerate(names)})

    def quantile(self, name: str, q: float) -> float:
        """The physical value below which a share `q` of parameter `name`'s draws lie (its
        value, for a fixed one): q = 0.5 the median, 0.025 and 0.975 a 95 % range."""
        loc, sd = float(getattr(self.loc, name)), float(getattr(self.scale, name))
        stored = loc + sd * NormalDist().inv_cdf(q) if sd > 0 else loc
        if self.kinds[name] == "lognormal":
            return math.exp(stored)
        return float(parameter_transform(name).to_physical(stored))

    def log_prob(self, params: Params) -> Float[Array, "*b"]:
        """Log density of stored values `params` (any leading axes), summed over parameters.

        The density is of the stored (unconstrained) value, the coordinates a fit moves in:
        for a log-stored rate it is the normal density of its log. Fixed parameters are
        constants, not random variables, and add nothing. A plain drive at or below zero
        has log density -inf. Pure: passes jit, vmap and grad.
        """
        total = jnp.zeros(())
        for name, kind in self.kinds.items():
            if kind == "fixed":
                continue
            x = getattr(params, name)
            loc, scale = getattr(self.loc, name), getattr(self.scale, name)
            if kind == "normal":
                total = total + _normal_logpdf(x, loc, scale)
            else:
                positive = x > 0
                logx = jnp.log(jnp.where(positive, x, 1.0))  # no NaN in the unused branch
                lp = _normal_logpdf(logx, loc, scale) - logx
                total = total + jnp.where(positive, lp, -jnp.inf)
        return total


def _normal_logpdf(x: Array, loc: Array, scale: Array) -> Array:
    z = (x - loc) / scale
    return -0.5 * z**2 - jnp.log(scale) - 0.5 * _LOG_2PI


def prior(genotype: str = "sporadic", species: str = "human", *,
          preset_version: str = LATEST_PRESET, population: bool | None = None) -> Prior:
    """The plausible ranges of every parameter around the preset of `genotype` and `species`.

    Drives the genotype lacks stay exactly zero.

    - `population=False`: medians are the preset values (`default_params(genotype,
      species, preset_version=...)`, the newest version by default) and spreads the table
      `RANGES` (with `MOUSE_RANGES` for the mouse), the same for every version.
    - `population=True`: as False, with the version's `PopulationCalibration` applied: the
      guessed human spreads and the calibration's named ones set, and the death rates'
      medians scaled, so that the draws die as a cohort does (and, since 2026.12.7, spread
      serum NfL as patients do; docs/validation.md, *Heterogeneity*).
    - None (default): True where the preset version has a calibration (the newest does),
      else False, as older versions' priors were recorded.

    Raises `ALSJaxError` for an unknown genotype, species or preset version, or for
    `population=True` with a version or case that has no calibration.
    """
    preset = default_params(genotype, species, preset_version=preset_version)
    calibration = POPULATION.get(preset_version)
    cases = calibration.death_rate_factor if calibration is not None else {}
    if population and (genotype, species) not in cases:
        raise ALSJaxError(f"no population calibration for {genotype} {species} at preset "
                          f"version {preset_version} (fit/published/prior_centre.py); use "
                          "population=False")
    if population is None:
        population = (genotype, species) in cases
    factor = cases[(genotype, species)] if population else 1.0
    loc, scale, kinds = {}, {}, {}
    for info in PARAMETERS:
        value = getattr(preset, info.name)
        spread = range_of(info.name, species).spread
        kind = _KIND[info.transform]
        if population and species == "human" and kind != "fixed":
            if info.name in calibration.spreads:
                spread = calibration.spreads[info.name]
            elif spread == _GUESS:
                spread = calibration.guess_spread
        if spread is None or kind == "fixed" or (kind == "lognormal" and float(value) == 0.0):
            kind, spread_stored = "fixed", 0.0
        else:
            spread_stored = spread if info.transform == "logit" else math.log(spread)
        if kind == "lognormal":
            value = jnp.log(value)
        if info.name in DEATH_RATES and kind != "fixed":
            value = value + math.log(factor)  # a log-stored rate or the log of a plain one
        loc[info.name], scale[info.name], kinds[info.name] = value, spread_stored, kind
    kind = tuple(kinds[n] for n in PARAMETER_NAMES)
    return Prior(loc=Params(**loc), scale=Params(**scale), kind=kind)


def range_of(name: str, species: str = "human") -> Range:
    """Parameter `name`'s documented range for `species` (`MOUSE_RANGES` first for mice)."""
    return (MOUSE_RANGES if species == "mouse" else {}).get(name, RANGES[name])


def why_fixed(name: str, genotype: str, species: str) -> str:
    """Why the prior of `genotype` and `species` holds `name` fixed: its range's reason (a
    definition, a structural switch), or a drive the genotype lacks."""
    r = range_of(name, species)
    return r.why if r.spread is None else f"0 in the {genotype} preset, a drive it lacks"


def plausible_priors(names: Sequence[str], genotype: str = "sporadic", species: str = "human",
                     *, preset_version: str = LATEST_PRESET,
                     population: bool | None = None) -> dict[str, tuple[float, float]]:
    """Each named parameter's plausible range as a fit's prior: name -> (median, GSD), the
    form `fit(priors=...)` and a recipe's `[priors]` take (log-normal on the physical
    value; for a logit-stored fraction, logit-normal with SD ln GSD). The same
    distribution `prior(genotype, species, ...)` gives that parameter, so a fit's prior is
    the documented range (the population one by default: where patients lie).

    Raises `ALSJaxError` in one line for an unknown name, or one the prior holds fixed (a
    structural switch, the human clock, a drive the genotype lacks)."""
    p = prior(genotype, species, preset_version=preset_version, population=population)
    out = {}
    for name in names:
        if name not in PARAMETER_NAMES:
            raise ALSJaxError(f"plausible prior: {unknown_parameter(name)}")
        if p.kinds[name] == "fixed":
            raise ALSJaxError(f"plausible prior of {name}: it has no spread for {genotype} "
                              f"{species} (held fixed: {why_fixed(name, genotype, species)}); "
                              "give its prior as { median = ..., gsd = ... }")
        out[name] = (p.quantile(name, 0.5), math.exp(float(getattr(p.scale, name))))
    return out
