"""Preset parameter values: the human baseline, each genotype's changes, the mouse's.

Plain data in physical units (time in days), kept apart from the model so that the CLI
can offer the genotype, species and preset-version names without loading JAX. Sources and
the reasoning behind each value are in docs/model.md.

Presets are versioned (`PRESET_VERSIONS`, oldest first; `LATEST_PRESET` is the default):

- `"legacy"`: the hand-tuned values as they were before any calibration to data, with
  `nfl_injury_release` 0 (the parameter came with model revision 4; at 0 the NfL equation
  is the one before it), so the old courses, NfL included, are reproduced exactly.
- `"2026.12"`: the mouse preset fitted to Solomon 2011 and Zang 2002
  (`fit/published/mouse_g93a.toml`), and revision 4's NfL injury release in the human
  presets; every other value is the legacy one (docs/model.md, *Preset versions*).
- `"2026.12.4"`: revision 6, riluzole on the respiratory pool only
  (`riluzole_limb_fraction` 0), with `riluzole_efficacy` fitted to Bensimon 1994 under it
  (`fit/published/riluzole_bensimon.toml`); every other value is 2026.12's.
- `"2026.12.5"`: the human pace of motor-neuron loss, motor reserve and respiratory
  vulnerability fitted to two placebo arms' ALSFRS-R and survival from onset together
  (`fit/published/human_pace_survival.toml`); every genotype inherits them, the mouse
  keeps its own (2026.12.4's) values; every other value is 2026.12.4's.
- `"2026.12.6"`: revision 8, an oxidative death route (`oxidative_death_rate`, fitted to
  MCI186-19's edaravone arm, `fit/published/edaravone_mci186_19.toml`), with the human
  pace, motor reserve and respiratory vulnerability refitted beside it (the joint recipe
  again); the mouse has no such route and is unchanged; every other value is 2026.12.5's.
- `"2026.12.7"`: every value is 2026.12.6's; what changed is the population prior
  (`alsjax.prior`, `alsjax._priors.POPULATION`): the proteostasis rates spread as a group
  of their own and the NfL parameters narrowed, fitted to survival and to serum NfL's
  spread between patients together (docs/model.md, *The prior as a population*).
- `"2026.12.8"`: model revision 9 (gradual reinnervation, aggregates that leave with the
  neurons that die), the pace fitted with the motor-unit course
  (`fit/published/human_pace_survival_munix.toml`), the oxidative route refitted beside
  it, edaravone's guessed efficacy halved to 0.05, NfL's release set again.
- `"2026.12.9"`: edaravone's efficacy fitted, no longer a guess: every table that bears
  on it together, MCI186-19's arms and Brooks 2022's real-world survival among them
  (`fit/published/edaravone_all_tables.toml`); every other value is 2026.12.8's.
- `"2026.12.10"`: model revision 10 (a carrier's own drive may run for years before the
  age-related misfolding starts; dipeptide repeats injure axons): the C9orf72 preset's
  prodrome set to Benatar 2019's NfL lead. Every other preset is 2026.12.9's (its vector
  field to the bit, its course to rounding).
- `"2026.12.11"`: model revision 11 (dipeptide repeats injure axons directly, a leak linear
  in their load): the C9orf72 preset keeps the lead with that leak instead of revision
  10's squared injury, and healthy proteostasis, so that its NfL after onset sits near
  sporadic disease's as published. Every other preset is 2026.12.10's.
- `"2026.12.12"`: the SOD1 preset's misfolding is the mutant protein's own (SOD1 ALS lacks
  the TDP-43 pathology that the age-related misfolding stands for: `misfolding_delay` a
  century, never within a course), with `mutant_sod1` fitted to the median survival from
  onset of SOD1 carriers (`fit/published/sod1_survival.toml`, Bali 2017), so that its NfL
  sits near sporadic disease's and tofersen, which lowers all of SOD1, reaches all of its
  misfolding. The mouse keeps its values; every other preset is 2026.12.11's.
"""

from ._errors import ALSJaxError, did_you_mean

GENOTYPES: tuple[str, ...] = ("sporadic", "SOD1", "C9orf72", "TARDBP", "FUS")
SPECIES: tuple[str, ...] = ("human", "mouse")
PRESET_VERSIONS: tuple[str, ...] = ("legacy", "2026.12", "2026.12.4", "2026.12.5", "2026.12.6",
                                     "2026.12.7", "2026.12.8", "2026.12.9",
                                     "2026.12.10", "2026.12.11", "2026.12.12")
LATEST_PRESET: str = PRESET_VERSIONS[-1]

# The newest version's values; older versions are written as their differences from it.
HUMAN: dict[str, float] = dict(
    time_scale=1.0,
    misfolding_rate=1.0e-3,
    misfolding_delay=0.0,  # revision 10: set for C9orf72 (GENOTYPE_CHANGES)
    ros_misfolding_gain=1.0,
    mutant_sod1=0.0,
    rbp_misfolding=0.0,
    c9_repeat=0.0,
    rna_stress=0.0,
    clearance_rate=0.02,
    aggregation_rate=0.05,
    aggregate_seed=0.01,
    aggregate_clearance=0.001,
    aggregate_death_loss=1.0,  # revision 9
    dpr_clearance=0.01,
    autophagy_capacity=1.0,
    proteostasis_recovery=0.01,
    proteostasis_saturation=0.01,
    ros_clearance=0.05,
    mito_ros_gain=1.0,
    aggregate_ros_gain=1.0,
    glia_ros_gain=0.5,
    mito_repair=0.01,
    mito_ros_damage=0.005,
    mito_aggregate_damage=0.005,
    mito_calcium_damage=0.005,
    eaat2_loss=1.0,
    microglia_glutamate=0.5,
    calcium_buffer_loss=1.0,
    apoptosis_activation=0.01,
    apoptosis_resolution=0.05,
    apoptosis_aggregate_gain=0.5,
    dpr_toxicity=0.5,
    # Revision 9 (2026.12.8): fit/published/human_pace_survival_munix.toml (two placebo
    # arms, survival from onset and Ebersbach 2023's motor-unit course) with the oxidative
    # route and edaravone's efficacy at their presets, 4 significant figures: 0.03207 (95 %
    # 0.0041-0.25), 0.5107 (0.11-2.4: not identified) and 1.033 (0.85-1.26). The oxidative
    # route and this pace were fitted in turn (each recipe with the other's values at the
    # preset) until neither moved by more than 0.1 %; the records are of the last round.
    apoptotic_death_rate=0.03207,
    excitotoxic_death_rate=0.002,
    # fit/published/edaravone_mci186_19.toml (docs/validation_results.json), 4 significant
    # figures, the trial's randomised difference read as this route's share of the death
    # hazard: 0.01116 under revision 9 (2026.12.8, efficacy 0.05; Laplace 95 % up to 0.024,
    # and the profile reaches no 95 % end inside 1e-5-0.02: the trial fixes the route's
    # share only with the efficacy); 0.003251 (95 % 0.00023-0.0063) under 2026.12.6's pace.
    oxidative_death_rate=1.116e-2,
    glia_toxicity=0.004,
    umn_vulnerability=0.7,
    respiratory_vulnerability=1.033,  # revision 9: see apoptotic_death_rate
    microglia_activation=0.01,
    microglia_resolution=0.02,
    astrocyte_activation=0.005,
    astrocyte_resolution=0.01,
    glia_clearance=0.005,
    phenotype_switch_rate=0.02,
    phenotype_reversion=0.005,
    switch_threshold=0.012,
    cytokine_release=0.02,
    cytokine_clearance=0.05,
    motor_reserve=0.5107,  # revision 9: see apoptotic_death_rate
    gradual_reinnervation=1.0,  # revision 9
    muscle_remodelling=0.03,
    spasticity_weight=0.2,
    nfl_baseline=10.0,
    # Revision 9 (2026.12.8), set by hand as revision 4 set them, not fitted: ALS / healthy
    # serum NfL 28.9 twelve months after onset (Gaiottino 2013), and of the injury releases
    # that give it, the one with the flattest course over the first two years (Lu 2015):
    # at 8 (6-16 within 0.01) NfL stays within 0.68-1.01 of its 12-month level (1 and 2000,
    # the values before, give 0.60 under revision 9's pace: docs/model.md, rev. 9).
    nfl_release=488.0,
    nfl_clearance=0.033,
    nfl_injury_release=8.0,
    dpr_injury=0.0,  # revision 10: set for C9orf72 in 2026.12.10 only
    dpr_axon_injury=0.0,  # revision 11: set for C9orf72 (GENOTYPE_CHANGES)
    onset_threshold=0.96,
    death_threshold=0.25,
    end_stage_threshold=0.3,
    arm_event_spread=0.7,  # _likelihood.ARM_EVENT_SD: a guess (docs/model.md)
    # fit/published/riluzole_bensimon.toml under revision 6, when the survival tables
    # were one reconstructed row per patient: 0.1504 (4 significant figures; 95 %
    # 0.070-0.293; profile from 0.046, no upper end). Refitted to the arm summaries
    # (docs/validation_results.json): 0.196 (0.070-0.444), which contains it; kept.
    riluzole_efficacy=0.1504,
    riluzole_limb_fraction=0.0,
    # fit/published/edaravone_all_tables.toml under 2026.12.8 (docs/validation_results.json),
    # 4 significant figures: 0.02751 (profile 0.0144-0.0387). MCI186-19 bounds it only
    # from below; Brooks 2022's survival medians, fitted beside it, set it (docs/
    # validation.md, item 4). Before, a guess: 0.1 until 2026.12.7, the smallest the trial
    # allowed then; 0.05 in 2026.12.8, the smallest at which the edaravone and joint pace
    # recipes, fitted in turn, still both fit as well as at 0.1.
    edaravone_efficacy=0.02751,
    tofersen_efficacy=0.6,
    anti_inflammatory_efficacy=0.3,
)
# Each genotype's changes up to 2026.12.9 (hand-tuned guesses, docs/model.md).
_GENOTYPE_CHANGES_2026_12_9: dict[str, dict[str, float]] = {
    "sporadic": {},
    "SOD1": dict(mutant_sod1=1.0e-3),
    "C9orf72": dict(c9_repeat=1.0e-3, autophagy_capacity=0.7),
    "TARDBP": dict(rbp_misfolding=5.0e-4, rna_stress=0.05),
    "FUS": dict(rbp_misfolding=8.0e-4, rna_stress=0.08),
}
_GENOTYPE_CHANGES_2026_12_10: dict[str, dict[str, float]] = dict(
    _GENOTYPE_CHANGES_2026_12_9,
    # Revision 10 (2026.12.10), set by hand to Benatar 2019's lead, not fitted: serum NfL
    # above 2x healthy 41.1 months before onset (published about 42), survival from onset
    # 29.2 months (27.8 before; no C9orf72 survival is calibrated). The repeats injure
    # axons (0.2 of a misfolded protein's injury) and kill few neurons (dpr_toxicity 0.05,
    # the shared 0.5 before) for 1,200 days before the age-related misfolding starts
    # (docs/model.md, revision 10; fit/published/prodrome_search.py).
    C9orf72=dict(_GENOTYPE_CHANGES_2026_12_9["C9orf72"], dpr_toxicity=0.05, dpr_injury=0.2,
                 misfolding_delay=1200.0),
)
_GENOTYPE_CHANGES_2026_12_11: dict[str, dict[str, float]] = dict(
    _GENOTYPE_CHANGES_2026_12_10,
    # Revision 11 (2026.12.11): the repeats' injury is direct and linear (`dpr_axon_injury`)
    # instead of squared with the misfolded protein's, and proteostasis is healthy
    # (`autophagy_capacity` 1, a guessed 0.7 before): with either of the old choices C9orf72's
    # NfL a year after onset sits 2-5 times above sporadic disease, where published C9orf72
    # ALS sits level with it (docs/validation.md, check 14). Set by hand, as revision 10's
    # were: the leak so that NfL's prodromal plateau (4.4x healthy) clears both thresholds
    # check 12 reads (2x and 3x), and the prodrome so that NfL passes 2x healthy 42 months
    # before onset, Benatar 2019's lead (docs/model.md, revision 11; fit/published/
    # prodrome_search.py --level).
    C9orf72=dict(_GENOTYPE_CHANGES_2026_12_10["C9orf72"], autophagy_capacity=1.0,
                 dpr_injury=0.0, dpr_axon_injury=0.01, misfolding_delay=980.0),
)
GENOTYPE_CHANGES: dict[str, dict[str, float]] = dict(
    _GENOTYPE_CHANGES_2026_12_11,
    # 2026.12.12: SOD1 ALS has no TDP-43 pathology (Mackenzie 2007), which the age-related
    # misfolding stands for in sporadic disease, so the SOD1 preset's misfolding is the
    # mutant protein's alone: the age-related rate is put off for a century from the
    # cascade's start, never within a course (onset comes after about 1.2 years, death
    # after 3.9). Before, both ran from day 0, which doubled the misfolded pool and,
    # through the injury it squares, put SOD1's NfL a year after onset at 3.1 times
    # sporadic disease's, where published SOD1 ALS sits below C9orf72 ALS and so below
    # typical ALS (docs/validation.md, check 14). `mutant_sod1`: fit/published/
    # sod1_survival.toml (median survival from onset of 175 SOD1 carriers, 2.7 years,
    # Bali 2017), 4 significant figures.
    SOD1=dict(mutant_sod1=1.207e-3, misfolding_delay=36525.0),
)
# The SOD1-G93A mouse's changes from the human baseline (not from the human SOD1 preset:
# the line carries its own mutant drive, and the age-related misfolding from birth, with
# which mouse_g93a.toml fitted it).
MOUSE_CHANGES: dict[str, float] = dict(
    time_scale=5.0,
    # The mouse keeps the hand-tuned pace it was calibrated with (fit/published/
    # mouse_g93a.toml), not the human fit of 2026.12.5.
    apoptotic_death_rate=0.007,
    respiratory_vulnerability=1.0,
    # fit/published/mouse_g93a.toml (docs/validation_results.json), 4 significant figures:
    # 0.002789 (95 % 0.00275-0.00283) and 2.995 (2.25-3.99; profile 2.15-4.09)
    # (as recorded then; rerun after the event clocks' fix of 2026-12-05: 0.002791, 2.984)
    mutant_sod1=2.789e-3,
    umn_vulnerability=2.995,
    glia_toxicity=0.03,
    switch_threshold=0.008,
    motor_reserve=0.7,
    end_stage_threshold=0.45,
    nfl_baseline=20.0,
    nfl_release=2000.0,  # the human value before revision 9: the mouse's NfL is not calibrated
    nfl_injury_release=0.0,
    # No oxidative death route in the mouse: no mouse edaravone data are calibrated here.
    oxidative_death_rate=0.0,
    # The motor layer before revision 9: the mouse's fit to counts, onset and survival
    # (above) was made with it, and revision 9 was argued from human data only.
    aggregate_death_loss=0.0,
    gradual_reinnervation=0.0,
    edaravone_efficacy=0.1,  # the human guess before revision 9: no mouse edaravone data
)

# 2026.12.8: edaravone's guessed efficacy.
_2026_12_8_CHANGES: dict[str, float] = dict(edaravone_efficacy=0.05)
# 2026.12.7 and 2026.12.6: the motor layer before revision 9, and the pace fitted under it:
# fit/published/human_pace_survival.toml with the oxidative route at its preset
# (docs/validation_results.json), 4 significant figures: 0.007858 (95 % 0.0013-0.046),
# 0.5743 (profile 0.428-0.704) and 0.5560 (0.24-1.31: not identified, kept with the
# other two, with which it was fitted). As recorded then: the rerun after the event
# clocks' fix of 2026-12-05 gives 0.007986, 0.5748 and 0.5538; the version keeps these.
_2026_12_7_CHANGES: dict[str, float] = dict(aggregate_death_loss=0.0, gradual_reinnervation=0.0,
                                            apoptotic_death_rate=0.007858, motor_reserve=0.5560,
                                            respiratory_vulnerability=0.5743, nfl_release=2000.0,
                                            nfl_injury_release=1.0, oxidative_death_rate=3.251e-3,
                                            edaravone_efficacy=0.1)
# 2026.12.5: no oxidative death route, and the pace fitted without it.
_2026_12_5_CHANGES: dict[str, float] = dict(_2026_12_7_CHANGES, oxidative_death_rate=0.0,
                                            apoptotic_death_rate=0.02668,
                                            motor_reserve=0.5447, respiratory_vulnerability=0.5854)
# 2026.12.4: the human pace before the joint fit of 2026.12.5 (the hand-tuned values).
_2026_12_4_CHANGES: dict[str, float] = dict(_2026_12_5_CHANGES, apoptotic_death_rate=0.007,
                                            motor_reserve=0.6, respiratory_vulnerability=1.0)
# 2026.12: riluzole on every neuron alike, at its hand-tuned efficacy.
_2026_12_CHANGES: dict[str, float] = dict(_2026_12_4_CHANGES, riluzole_limb_fraction=1.0,
                                          riluzole_efficacy=0.03)
_LEGACY_HUMAN_CHANGES: dict[str, float] = dict(_2026_12_CHANGES, nfl_injury_release=0.0)
_LEGACY_MOUSE_CHANGES: dict[str, float] = dict(mutant_sod1=2.5e-3, umn_vulnerability=0.7)

PRESETS: dict[str, tuple[dict[str, float], dict[str, dict[str, float]], dict[str, float]]] = {
    "legacy": (dict(HUMAN, **_LEGACY_HUMAN_CHANGES), _GENOTYPE_CHANGES_2026_12_9,
               dict(MOUSE_CHANGES, **_LEGACY_MOUSE_CHANGES)),
    "2026.12": (dict(HUMAN, **_2026_12_CHANGES), _GENOTYPE_CHANGES_2026_12_9, MOUSE_CHANGES),
    "2026.12.4": (dict(HUMAN, **_2026_12_4_CHANGES), _GENOTYPE_CHANGES_2026_12_9, MOUSE_CHANGES),
    "2026.12.5": (dict(HUMAN, **_2026_12_5_CHANGES), _GENOTYPE_CHANGES_2026_12_9, MOUSE_CHANGES),
    "2026.12.6": (dict(HUMAN, **_2026_12_7_CHANGES), _GENOTYPE_CHANGES_2026_12_9, MOUSE_CHANGES),
    # 2026.12.7: a new prior, 2026.12.6's presets
    "2026.12.7": (dict(HUMAN, **_2026_12_7_CHANGES), _GENOTYPE_CHANGES_2026_12_9, MOUSE_CHANGES),
    "2026.12.8": (dict(HUMAN, **_2026_12_8_CHANGES), _GENOTYPE_CHANGES_2026_12_9, MOUSE_CHANGES),
    "2026.12.9": (HUMAN, _GENOTYPE_CHANGES_2026_12_9, MOUSE_CHANGES),
    "2026.12.10": (HUMAN, _GENOTYPE_CHANGES_2026_12_10, MOUSE_CHANGES),
    "2026.12.11": (HUMAN, _GENOTYPE_CHANGES_2026_12_11, MOUSE_CHANGES),
    "2026.12.12": (HUMAN, GENOTYPE_CHANGES, MOUSE_CHANGES),
}
"""version -> (human baseline, each human genotype's changes, the SOD1-G93A mouse's changes
from the human baseline)."""

assert tuple(PRESETS) == PRESET_VERSIONS


def check_preset_version(version: str) -> str:
    """`version` if it is one of `PRESET_VERSIONS`; else a one-line `ALSJaxError`."""
    if version not in PRESETS:
        raise ALSJaxError(f"unknown preset version {version!r}"
                          f"{did_you_mean(version, PRESET_VERSIONS)}; choose from "
                          f"{', '.join(PRESET_VERSIONS)}")
    return version


def preset_values(genotype: str, species: str, version: str = LATEST_PRESET
                  ) -> dict[str, float]:
    """Physical values (days) of every parameter of one preset; one-line `ALSJaxError`s."""
    check_preset_version(version)
    if genotype not in GENOTYPES:
        raise ALSJaxError(f"unknown genotype {genotype!r}; choose from {', '.join(GENOTYPES)}")
    if species not in SPECIES:
        raise ALSJaxError(f"unknown species {species!r}; choose from {', '.join(SPECIES)}")
    human, genotypes, mouse = PRESETS[version]
    if species == "mouse":
        if genotype != "SOD1":
            raise ALSJaxError(
                f"species 'mouse' models the SOD1-G93A line only; genotype {genotype!r} "
                "has no mouse preset"
            )
        return dict(human, **mouse)
    return dict(human, **genotypes[genotype])
