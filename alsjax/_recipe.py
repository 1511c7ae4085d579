"""Fit recipes: a TOML file that declares a fit (data, what to estimate, how).

```toml
data = "../data/synthetic/small_human.csv"   # relative to the recipe
estimate = ["apoptotic_death_rate", "nfl_release"]
noise = "gaussian"          # every observable; or a table (below); default: per observable
optimiser = "lm"            # "lm", "lbfgs" or "adam"
starts = 4
seed = 0
max_steps = 100
align = "cascade"           # or "onset"
preset_version = "2026.12"  # presets of the parameters not estimated (default: newest)
plausible_priors = false    # true: every estimated parameter [priors] does not name gets
                            # its plausible range as prior (`--plausible-priors`)
fit_shifts = false          # or true (a time shift per subject), or ["subject", ...]
                            # (["a", "b"] as an item: a and b share one shift)
rtol = 1e-6                 # ODE solver tolerances (default: simulate's); a population
atol = 1e-9                 # fit takes them in its [population] table instead
out = "alsjax-fit"          # relative to the working directory
profile = []                # parameters to profile after the fit
profile_points = 11         # grid points per profile

[bounds]                    # physical units; default preset x/÷ 10 (`--bound` overrides)
nfl_release = [500.0, 20000.0]

[priors]                    # log-normal: median and geometric SD
apoptotic_death_rate = { median = 0.007, gsd = 3.0 }
nfl_release = "plausible"   # its documented plausible range (alsjax.plausible_priors)

[noise]                     # instead of `noise = "..."`: a model per observable; those
alsfrs_r = "gaussian"       # not named keep their default (DEFAULT_NOISE_MODEL: NfL
nfl = "lognormal"           # log-normal, the rest Gaussian)
```

A `[population]` table makes the recipe a mixed-effects (Laplace / FOCE-I) population fit,
run by `alsjax fit RECIPE` and `run_recipe` like any other:

```toml
[population]
random = ["apoptotic_death_rate", "nfl_release"]   # a random effect per subject
covariates = ["apoptotic_death_rate~site_of_onset"] # NAME~COLUMN of the data file
covariance = "full"         # or "diagonal" (independent random effects)
gtol = 1e-3                 # stop when every |d(-2 log L)/dphi| is below this
rtol = 1e-6                 # ODE solver tolerances (default: simulate's)
atol = 1e-9
se = "auto"                 # SEs from the Hessian ("hessian") or the subjects' outer
                            # product of gradients ("opg"); auto: Hessian to 500 subjects
start = "preset"            # population values start at the presets, or "pooled": at a
                            # naive pooled fit's estimates (fitted first)
```

There `estimate` names the *fixed* effects only (shared by every subject; may be left
out), as `--estimate` does beside `--random`; `starts` defaults to 1 and `max_steps`
(outer BFGS steps) to 100. `bounds` apply to `--per-subject` only (the population fit is
unbounded on the stored scale); `priors`, `profile`, `fit_shifts` and `optimiser` do not
apply and are refused when the population fit runs. `alsjax fit RECIPE --per-subject`
ignores the table and fits each subject's `random` and `estimate` parameters on its own.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ._dataset import ALIGNMENTS
from ._errors import ALSJaxError, did_you_mean
from ._noise import noise_models
from ._population import COVARIANCES, SE_METHODS, STARTS
from ._presets import LATEST_PRESET, check_preset_version
from ._problem import OPTIMISERS

_KEYS = {"data", "estimate", "noise", "optimiser", "starts", "seed", "max_steps", "align",
         "fit_shifts", "out", "profile", "profile_points", "bounds", "priors", "title",
         "population", "preset_version", "rtol", "atol", "plausible_priors"}
_POPULATION_KEYS = ("random", "covariates", "covariance", "gtol", "rtol", "atol", "se",
                    "start")


@dataclasses.dataclass(frozen=True)
class PopulationSpec:
    """A recipe's `[population]` table: which parameters vary between subjects, the
    covariate effects, the random effects' covariance and the fit's tolerances."""

    random: tuple[str, ...]
    covariates: tuple[str, ...] = ()
    covariance: str = "diagonal"
    gtol: float = 1e-3
    rtol: float | None = None
    atol: float | None = None
    se: str = "auto"  # one of SE_METHODS: where the standard errors come from
    start: str = "preset"  # one of STARTS: the presets, or a naive pooled fit first


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A parsed recipe; `data` is an absolute path."""

    data: Path
    estimate: tuple[str, ...]
    noise: str | dict[str, str] | None = None  # None: each observable's default model
    optimiser: str | None = None
    starts: int = 8
    seed: int = 0
    max_steps: int = 200
    align: str = "cascade"
    fit_shifts: bool | tuple[str | tuple[str, ...], ...] = False  # all, none, these (groups)
    out: str | None = None
    profile: tuple[str, ...] = ()
    profile_points: int = 11
    bounds: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    # name -> (median, GSD), or "plausible": the range alsjax.plausible_priors gives it
    priors: dict[str, tuple[float, float] | str] = dataclasses.field(default_factory=dict)
    source: str = ""
    population: PopulationSpec | None = None  # a [population] table: a mixed-effects fit
    preset_version: str = LATEST_PRESET  # one of PRESET_VERSIONS: the subjects' presets
    rtol: float | None = None  # the ODE solver's tolerances (None: simulate's)
    atol: float | None = None
    plausible_priors: bool = False  # every estimated parameter without a prior: its range


def default_recipe_path() -> Path:
    """`fit/default.toml`: from the source tree when run from a checkout, else the copy
    shipped inside the package (with its data beside it)."""
    repo = Path(__file__).resolve().parent.parent / "fit" / "default.toml"
    if repo.is_file():
        return repo
    shipped = resources.files("alsjax") / "_shipped" / "fit" / "default.toml"
    return Path(str(shipped))


def _type(name: str, value: Any, kind, where: str):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ALSJaxError(f"{where}: {name} must be a {kind.__name__}, got {value!r}")
    return value


def _tolerances(table: dict, keys: tuple[str, ...], where: str, prefix: str = ""
                ) -> dict[str, float]:
    """The positive numbers among `keys` that `table` gives (a tolerance of 0 or less is
    one line naming the key, `prefix` + key)."""
    found = {}
    for key in keys:
        if key in table:
            found[key] = _type(f"{prefix}{key}", table[key], float, where)
            if not found[key] > 0:
                raise ALSJaxError(f"{where}: {prefix}{key} must be > 0, got {found[key]!r}")
    return found

def _fit_shifts(value: Any, where: str) -> bool | tuple[str | tuple[str, ...], ...]:
    """`fit_shifts`: true, false, or a list of the subjects whose time shift is fitted,
    where an item that is itself a list names subjects sharing one shift."""
    if isinstance(value, bool):
        return value

    def names(v):
        return isinstance(v, list) and v and all(isinstance(x, str) for x in v)

    if isinstance(value, list) and value and all(isinstance(v, str) or names(v)
                                                 for v in value):
        return tuple(v if isinstance(v, str) else tuple(v) for v in value)
    raise ALSJaxError(f"{where}: fit_shifts must be true, false or a non-empty list of "
                      f"subject names (or lists of subjects that share a shift), got "
                      f"{value!r}")


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe; every problem is one line naming the file and key."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ALSJaxError(f"{where}: no such recipe file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ALSJaxError(f"{where}: cannot read recipe ({e.__class__.__name__})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ALSJaxError(f"{where}: not valid TOML ({e})") from None
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ALSJaxError(f"{where}: unknown key {unknown[0]!r}"
                          f"{did_you_mean(unknown[0], sorted(_KEYS))}; known keys: "
                          f"{', '.join(sorted(_KEYS))}")
    if "data" not in raw:
        raise ALSJaxError(f"{where}: missing key 'data' (the measurement file)")
    population = None
    if "population" in raw:
        population = _population(raw["population"], where)
    elif "estimate" not in raw:
        raise ALSJaxError(f"{where}: missing key 'estimate' (parameters to fit)")
    data = _type("data", raw["data"], str, where)
    estimate = raw.get("estimate", [])
    if not isinstance(estimate, list) or not (estimate or population) or \
            not all(isinstance(e, str) for e in estimate):
        raise ALSJaxError(f"{where}: estimate must be a non-empty list of parameter names")
    profile = raw.get("profile", [])
    if not isinstance(profile, list) or not all(isinstance(e, str) for e in profile):
        raise ALSJaxError(f"{where}: profile must be a list of parameter names")
    bounds: dict[str, tuple[float, float]] = {}
    for name, b in _type("bounds", raw.get("bounds", {}), dict, where).items():
        if not (isinstance(b, list) and len(b) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in b)):
            raise ALSJaxError(f"{where}: bounds.{name} must be [lower, upper], got {b!r}")
        bounds[name] = (float(b[0]), float(b[1]))
    priors: dict[str, tuple[float, float] | str] = {}
    for name, p in _type("priors", raw.get("priors", {}), dict, where).items():
        if p == "plausible":
            priors[name] = p
            continue
        if not (isinstance(p, dict) and set(p) == {"median", "gsd"}):
            raise ALSJaxError(f"{where}: priors.{name} must be {{ median = ..., gsd = ... }} "
                              f"or \"plausible\", got {p!r}")
        priors[name] = (float(_type("median", p["median"], float, where)),
                        float(_type("gsd", p["gsd"], float, where)))
    noise = raw.get("noise")
    if noise is not None and not isinstance(noise, str | dict):
        raise ALSJaxError(f"{where}: noise must be 'gaussian', 'lognormal' or a table "
                          f"observable = model, got {noise!r}")
    noise_models(noise, where=f"{where}: noise")  # one line naming the key on a bad one
    opt = raw.get("optimiser")
    if opt is not None and opt not in OPTIMISERS:
        raise ALSJaxError(f"{where}: optimiser must be one of {', '.join(OPTIMISERS)}, "
                          f"got {opt!r}")
    align = _type("align", raw.get("align", "cascade"), str, where)
    if align not in ALIGNMENTS:
        raise ALSJaxError(f"{where}: align must be one of {', '.join(ALIGNMENTS)}, "
                          f"got {align!r}")
    tolerances = _tolerances(raw, ("rtol", "atol"), where)
    seed = _type("seed", raw.get("seed", 0), int, where)
    if seed < 0:  # NumPy takes seeds >= 0 only
        raise ALSJaxError(f"{where}: seed must be >= 0, got {seed}")
    version = _type("preset_version", raw.get("preset_version", LATEST_PRESET), str, where)
    try:
        check_preset_version(version)
    except ALSJaxError as e:
        raise ALSJaxError(f"{where}: preset_version: {e}") from None
    return Recipe(
        data=(path.parent / data).resolve(),
        estimate=tuple(estimate),
        noise=noise,
        optimiser=None if opt is None else _type("optimiser", opt, str, where),
        starts=_type("starts", raw.get("starts", 1 if population else 8), int, where),
        seed=seed,
        max_steps=_type("max_steps", raw.get("max_steps", 100 if population else 200), int,
                        where),
        align=align,
        fit_shifts=_fit_shifts(raw.get("fit_shifts", False), where),
        out=None if "out" not in raw else _type("out", raw["out"], str, where),
        profile=tuple(profile),
        profile_points=_type("profile_points", raw.get("profile_points", 11), int, where),
        bounds=bounds, priors=priors, source=str(path), population=population,
        preset_version=version, **tolerances,
        plausible_priors=_type("plausible_priors", raw.get("plausible_priors", False), bool,
                               where),
    )


def fit_priors(recipe: Recipe, df, subjects: Sequence[str] | None = None) -> dict[str, Any]:
    """The recipe's priors as `fit` takes them, name -> (median, GSD): "plausible" ones (and,
    with `plausible_priors`, every estimated parameter without one) from the documented
    range of the data's genotype and species at the recipe's preset version.

    A fit of the whole data needs one genotype and species in it (else one line naming
    them). A per-subject fit (`subjects`: the fit's subjects, in order) takes each
    subject's own: then a plausible prior is one (median, GSD) per subject, as
    `fit_per_subject` takes it, wherever the data mix genotypes or species."""
    from ._priors import plausible_priors

    wanted = [n for n, p in recipe.priors.items() if p == "plausible"]
    if recipe.plausible_priors:
        wanted += [n for n in recipe.estimate if n not in recipe.priors]
    given = {n: p for n, p in recipe.priors.items() if p != "plausible"}
    if not wanted:
        return given
    cases = sorted(set(zip(df["genotype"], df["species"], strict=True)))
    if len(cases) == 1:
        return given | plausible_priors(wanted, *cases[0], preset_version=recipe.preset_version)
    if subjects is None:
        raise ALSJaxError(f"{recipe.data}: plausible priors need one genotype and species in "
                          f"the data, found {', '.join(' '.join(c) for c in cases)}; give "
                          "those priors as { median = ..., gsd = ... }, or fit each subject "
                          "with its own (--per-subject)")
    first = df.drop_duplicates("subject")
    case = {str(s): c for s, *c in zip(first["subject"], first["genotype"], first["species"],
                                        strict=True)}
    ranges = {c: plausible_priors(wanted, *c, preset_version=recipe.preset_version)
              for c in cases}
    of = [ranges[tuple(case[s])] for s in subjects]
    return given | {n: [r[n] for r in of] for n in wanted}


def _names(key: str, value: Any, where: str, *, empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or \
            (not empty and not value):
        what = "a list of" if empty else "a non-empty list of"
        raise ALSJaxError(f"{where}: population.{key} must be {what} names, got {value!r}")
    return tuple(value)


def _population(table: Any, where: str) -> PopulationSpec:
    """The `[population]` table, checked key by key (one line naming the key)."""
    if not isinstance(table, dict):
        raise ALSJaxError(f"{where}: population must be a table ([population]), got "
                          f"{table!r}")
    unknown = sorted(set(table) - set(_POPULATION_KEYS))
    if unknown:
        raise ALSJaxError(f"{where}: unknown key 'population.{unknown[0]}'"
                          f"{did_you_mean(unknown[0], _POPULATION_KEYS)}; known keys: "
                          f"{', '.join(_POPULATION_KEYS)}")
    if "random" not in table:
        raise ALSJaxError(f"{where}: missing key 'population.random' (parameters with a "
                          "random effect per subject)")
    covariance = _type("population.covariance", table.get("covariance", "diagonal"), str,
                       where)
    if covariance not in COVARIANCES:
        raise ALSJaxError(f"{where}: population.covariance must be one of "
                          f"{', '.join(COVARIANCES)}, got {covariance!r}")
    se = _type("population.se", table.get("se", "auto"), str, where)
    if se not in SE_METHODS:
        raise ALSJaxError(f"{where}: population.se must be one of {', '.join(SE_METHODS)}, "
                          f"got {se!r}")
    start = _type("population.start", table.get("start", "preset"), str, where)
    if start not in STARTS:
        raise ALSJaxError(f"{where}: population.start must be one of {', '.join(STARTS)}, "
                          f"got {start!r}")
    tol = _tolerances(table, ("gtol", "rtol", "atol"), where, "population.")
    return PopulationSpec(
        random=_names("random", table["random"], where, empty=False),
        covariates=_names("covariates", table.get("covariates", []), where, empty=True),
        covariance=covariance, se=se, start=start, **tol)


def with_population(recipe: Recipe, *, population: bool = True, random: Sequence[str] = (),
                    covariates: Sequence[str] = (), covariance: str | None = None,
                    se: str | None = None, start: str | None = None) -> Recipe:
    """`recipe` as a population fit with the command line's `--random`, `--covariate`,
    `--covariance`, `--se` and `--population-start` replacing the table's entries (each flag
    replaces the whole entry);
    a recipe without a `[population]` table needs `--population` and `--random`, and its
    `rtol` and `atol` become the population's."""
    spec = recipe.population
    if spec is None:
        if not population:
            raise ALSJaxError("--random, --covariate, --covariance, --se and "
                              "--population-start need --population (or a recipe with a "
                              "[population] table)")
        if not random:
            raise ALSJaxError(f"{recipe.source or 'recipe'}: --population: name at least one "
                              "--random parameter, or add a [population] table")
        # The plain recipe's solver tolerances become the population's.
        spec = PopulationSpec(random=tuple(random), rtol=recipe.rtol, atol=recipe.atol)
        recipe = dataclasses.replace(recipe, rtol=None, atol=None)
    over = {k: v for k, v in dict(random=tuple(random), covariates=tuple(covariates),
                                  covariance=covariance, se=se, start=start).items() if v}
    return dataclasses.replace(recipe, population=dataclasses.replace(spec, **over))


def without_population(recipe: Recipe) -> Recipe:
    """`recipe` as a fit without random effects (`--per-subject` on a population recipe):
    its `random` and `estimate` parameters all estimated, the table dropped (its solver
    tolerances kept)."""
    if recipe.population is None:
        return recipe
    estimate = tuple(dict.fromkeys((*recipe.population.random, *recipe.estimate)))
    return dataclasses.replace(recipe, estimate=estimate, population=None,
                               rtol=recipe.population.rtol, atol=recipe.population.atol)
