"""The whole fit pipeline as one call: `run_recipe(recipe, out)`.

recipe -> read and check the data -> `make_data` -> check every choice -> `fit` ->
profiles -> (optionally) the output files. Everything that can be checked is checked
before the fit runs, and nothing is written before the fit and its profiles are done.
`alsjax fit` and `alsjax profile` are this call with the command line's options. A
recipe with a `[population]` table runs the mixed-effects fit instead
(`_population_report.run_population`) and returns its `PopulationResult`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from ._data import read_measurements
from ._dataset import make_data
from ._errors import ALSJaxError
from ._fit import fit
from ._io import check_output_folder, process_age
from ._optimise import Progress
from ._population import PopulationResult
from ._population_report import run_population
from ._problem import DEFAULT_OPTIMISER, make_problem
from ._progress import resolve_progress
from ._recipe import Recipe, fit_priors, load_recipe
from ._report import PLOT_FORMATS, prefetch_report, write_outputs
from ._result import FitResult
from ._uncertainty import profile


def run_recipe(
    recipe: Recipe | str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    progress: Progress | bool | None = None,
    command: list[str] | None = None,
    force: bool = False,
    plot_format: str = "png",
    devices: int | None = None,
    chunk_subjects: int | None = None,
) -> FitResult | PopulationResult:
    """Run a fit recipe: a path to a `.toml` recipe, or a parsed `Recipe`.

    A recipe with a `[population]` table is a population fit: returns its
    `PopulationResult` and (with `out`) writes parameters.csv, subjects.csv,
    summary.json, vpc.png and individuals.png (`run_population`); `devices` and
    `chunk_subjects` (see `fit_population`) apply to it alone.

    Returns the `FitResult`, with the recipe's profile likelihoods in `.profiles`. With
    `out`, also writes parameters.csv, predictions.csv, summary.json, fit.png (or
    `plot_format` "pdf" or "svg"), petab_parameters.tsv (and profiles.csv) as the whole
    content of that folder: an earlier alsjax run there is replaced as one set, and a
    folder holding anything else is refused unless `force`. `command` is recorded in
    summary.json (default: this process's command line). `progress`: see `fit`.
    Raises `ALSJaxError` (one line) for anything wrong with the recipe or its data.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    if recipe.population is not None:
        return _run_population_recipe(recipe, out, progress=progress, command=command,
                                      force=force, plot_format=plot_format, devices=devices,
                                      chunk_subjects=chunk_subjects)
    if devices is not None or chunk_subjects is not None:
        raise ALSJaxError("devices and chunk_subjects apply to a population recipe; for "
                          "per-subject fits use alsjax.fit_per_subject")
    # Wall seconds of each phase, for summary.json ("phases_s"); "start_s" is the
    # process's age here: the interpreter, imports and argument parsing.
    clock = time.perf_counter()
    phases = {"start_s": process_age()}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = now - clock
        clock = now

    df = read_measurements(recipe.data)
    data = make_data(df, align=recipe.align, preset_version=recipe.preset_version)
    lap("read_s")
    optimiser = recipe.optimiser or DEFAULT_OPTIMISER
    prefix = f"{recipe.source}: " if recipe.source else ""  # name the recipe file at fault
    try:
        priors = fit_priors(recipe, df)
        pb, _, _ = make_problem(data, recipe.estimate, bounds=recipe.bounds, priors=priors,
                     noise=recipe.noise, optimiser=optimiser, max_steps=recipe.max_steps,
                     fit_shifts=recipe.fit_shifts, rtol=recipe.rtol, atol=recipe.atol)
    except ALSJaxError as e:
        raise ALSJaxError(f"{prefix}{e}") from None
    wanted = tuple(dict.fromkeys(recipe.profile))
    for name in wanted:
        if name not in recipe.estimate:
            raise ALSJaxError(f"{prefix}profile {name}: not among the estimated parameters "
                              f"({', '.join(recipe.estimate)})")
    if recipe.starts < 1:
        raise ALSJaxError(f"{prefix}starts must be >= 1, got {recipe.starts}")
    if recipe.profile_points < 3:
        raise ALSJaxError(f"{prefix}profile points must be >= 3, got {recipe.profile_points}")
    if plot_format not in PLOT_FORMATS:
        raise ALSJaxError(f"plot format: expected one of {', '.join(PLOT_FORMATS)}, got "
                          f"{plot_format!r}")
    if out is not None:
        check_output_folder(out, force=force)
        prefetch_report(pb)  # the report's solve compiles beside the fit's optimiser
    lap("prepare_s")
    with resolve_progress(progress) as report:
        result = fit(data, recipe.estimate, bounds=recipe.bounds, priors=priors,
                     noise=recipe.noise, optimiser=optimiser, n_starts=recipe.starts,
                     seed=recipe.seed, max_steps=recipe.max_steps, progress=report,
                     fit_shifts=recipe.fit_shifts, rtol=recipe.rtol, atol=recipe.atol)
        lap("fit_s")
        profiles = tuple(profile(result, name, points=recipe.profile_points, progress=report)
                         for name in wanted)
        result = dataclasses.replace(result, profiles=profiles)
        if wanted:
            lap("profiles_s")
        if out is not None:
            write_outputs(result, df, Path(out), data_path=str(recipe.data),
                          command=command, plot_format=plot_format, progress=report,
                          phases=phases)
    return result


_NOT_POPULATION = {
    "priors": "a population fit has no priors (the random effects' distribution is its "
              "prior); remove them or the [population] table",
    "profile": "profiles are not available for a population fit; parameters.csv holds "
               "Laplace intervals",
    "fit_shifts": "fitted time shifts are not available for a population fit",
    "optimiser": "a population fit has its own optimisers (BFGS outside, LM for each "
                 "subject inside); remove the key",
    "rtol": "a population fit takes its solver tolerances as population.rtol and "
            "population.atol",
    "atol": "a population fit takes its solver tolerances as population.rtol and "
            "population.atol",
}


def _run_population_recipe(recipe: Recipe, out, *, progress, command, force,
                           plot_format, devices=None, chunk_subjects=None) -> PopulationResult:
    """The `[population]` branch of `run_recipe`: refuse what does not apply, then
    `run_population` with the recipe's choices."""
    prefix = f"{recipe.source}: " if recipe.source else ""
    spec = recipe.population
    assert spec is not None
    given = {"priors": bool(recipe.priors) or recipe.plausible_priors,
             "profile": bool(recipe.profile),
             "fit_shifts": recipe.fit_shifts, "optimiser": recipe.optimiser is not None,
             "rtol": recipe.rtol is not None, "atol": recipe.atol is not None}
    for key, why in _NOT_POPULATION.items():
        if given[key]:
            raise ALSJaxError(f"{prefix}{key}: {why}")
    if plot_format != "png":
        raise ALSJaxError(f"{prefix}plot format {plot_format!r}: a population fit draws "
                          "PNG figures only")
    try:
        return run_population(
            recipe.data, out, random=spec.random, estimate=recipe.estimate,
            covariates=spec.covariates, covariance=spec.covariance, noise=recipe.noise,
            n_starts=recipe.starts, seed=recipe.seed, max_steps=recipe.max_steps,
            align=recipe.align, preset_version=recipe.preset_version, progress=progress,
            command=command, force=force,
            gtol=spec.gtol, rtol=spec.rtol, atol=spec.atol, se=spec.se, start=spec.start,
            devices=devices,
            chunk_subjects=chunk_subjects)
    except ALSJaxError as e:
        if prefix and not str(e).startswith(prefix):
            raise ALSJaxError(f"{prefix}{e}") from None
        raise
