"""`alsjax fit` and `alsjax profile`: the shipped default, and every bad input as one line,
exit code 2 and no output files."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import alsjax
from alsjax.cli import _clock_note, _fit_inputs, _interval_text, _preset_note, app

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = {"parameters.csv", "predictions.csv", "summary.json", "fit.png",
           "petab_parameters.tsv"}


@pytest.fixture(autouse=True)
def _no_persistent_cache(monkeypatch):
    """The CLI would read and fill ~/.cache/alsjax/jax; tests compile from scratch."""
    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")


def _fails(args, *words, out=None):
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    if out is not None:
        assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    return lines[0]


def test_default_fit_writes_every_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the shipped recipe works from any directory
    r = runner.invoke(app, ["fit", "--quiet"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "alsjax-fit"
    assert {p.name for p in out.iterdir()} == OUTPUTS
    params = pd.read_csv(out / "parameters.csv")
    assert list(params.columns[:5]) == ["parameter", "estimate", "std_error", "ci_low",
                                        "ci_high"]
    assert {"apoptotic_death_rate", "nfl_release"} <= set(params["parameter"])
    truth = json.loads((ROOT / "data/synthetic/small_human_truth.json").read_text())
    row = params.set_index("parameter").loc["apoptotic_death_rate"]
    assert row.ci_low < truth["parameters"]["apoptotic_death_rate"] < row.ci_high
    pred = pd.read_csv(out / "predictions.csv")
    assert len(pred) == 60 and {"prediction", "residual"} <= set(pred.columns)
    # The recipe's per-observable noise: an SD for ALSFRS-R, a CV for NfL.
    sigma = params.set_index("parameter").loc[["sigma:alsfrs_r", "sigma:nfl"], "noise"]
    assert sigma.tolist() == ["gaussian SD", "lognormal CV"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["noise"] == {"alsfrs_r": "gaussian", "nfl": "lognormal"}
    assert summary["seed"] == 0 and len(summary["starts"]) == 4
    assert (summary["rtol"], summary["atol"]) == (1e-6, 1e-9)  # the solver's defaults
    # The recipe names the version the data were made with (the newest is the default).
    assert summary["preset_version"] == truth["preset_version"]
    assert {"alsjax", "jax", "diffrax", "optax", "numpy"} <= set(summary["versions"])
    assert "unknown" not in summary["versions"].values()
    assert summary["command"].startswith("alsjax")
    assert isinstance(summary["peak_host_memory_bytes"], int)
    assert summary["peak_host_memory_bytes"] > 0 and "peak_device_memory_bytes" in summary
    petab = pd.read_csv(out / "petab_parameters.tsv", sep="\t")
    assert list(petab.columns) == ["parameterId", "parameterScale", "lowerBound",
                                   "upperBound", "nominalValue", "estimate"]
    assert (out / "fit.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    # The Python entry point runs the same pipeline: the same estimates (the CSV holds
    # 10 significant digits, so 1e-9 relative), and writes nothing without `out`.
    from alsjax import run_recipe
    from alsjax._recipe import default_recipe_path

    result = run_recipe(default_recipe_path())
    written = params.set_index("parameter")["estimate"]
    for name, value in result.estimates.items():
        assert abs(value - written[name]) <= 1e-9 * abs(value), (name, value, written[name])
    assert {p.name for p in tmp_path.iterdir()} == {"alsjax-fit"}


def test_profile_command(tmp_path):
    out = tmp_path / "prof"
    r = runner.invoke(app, ["profile", str(ROOT / "fit/default.toml"), "--parameter",
                            "nfl_release", "--points", "4", "--quiet", "--out", str(out),
                            "--preset-version", "legacy"])
    assert r.exit_code == 0, r.output
    prof = pd.read_csv(out / "profiles.csv")
    assert len(prof) == 4 and (prof["parameter"] == "nfl_release").all()
    assert json.loads((out / "summary.json").read_text())["preset_version"] == "legacy"


def test_profile_takes_the_data_clock(tmp_path):
    """`alsjax profile DATA --align onset` reaches the recipe it runs (a data file's clock,
    as for `alsjax fit`); a wrong value is the option's error."""
    data = ROOT / "data/synthetic/small_human.csv"
    recipe, _ = _fit_inputs(data, ["nfl_release"], None, None, None, None, None,
                            ["nfl_release"], None, "onset")
    assert recipe.align == "onset" and recipe.profile == ("nfl_release",)
    r = runner.invoke(app, ["profile", str(data), "--parameter", "nfl_release", "--align",
                            "sideways", "--out", str(tmp_path / "p")])
    assert r.exit_code == 2 and "--align" in r.output and not (tmp_path / "p").exists()


def test_unknown_estimate(tmp_path):
    out = tmp_path / "o"
    _fails(["fit", str(ROOT / "data/synthetic/small_human.csv"), "--estimate",
            "nfl_relase", "--out", str(out)], "nfl_relase", "did you mean 'nfl_release'",
           out=out)


def test_unknown_optimiser(tmp_path):
    out = tmp_path / "o"
    _fails(["fit", "--optimiser", "newton", "--out", str(out)], "--optimiser",
           "'newton' is not one of 'lm', 'lbfgs', 'adam'", out=out)


def test_data_file_needs_estimate(tmp_path):
    _fails(["fit", str(ROOT / "data/synthetic/small_human.csv"), "--out",
            str(tmp_path / "o")], "--estimate")


def test_bad_recipes(tmp_path):
    out = tmp_path / "o"
    cases = {
        "datta = 'x.csv'\nestimate = ['nfl_release']\n": "did you mean 'data'",
        "data = 'x.csv'\n": "missing key 'estimate'",
        "data = = 1\n": "not valid TOML",
        "data = 'missing.csv'\nestimate = ['nfl_release']\n": "missing.csv",
        f"data = '{ROOT}/data/synthetic/small_human.csv'\nestimate = ['nfl_release']\n"
        "[bounds]\nnfl_release = [1.0]\n": "bounds.nfl_release",
        f"data = '{ROOT}/data/synthetic/small_human.csv'\nestimate = ['nfl_release']\n"
        "fit_shifts = 'p1'\n": "fit_shifts must be true, false or a non-empty list",
        f"data = '{ROOT}/data/synthetic/small_human.csv'\nestimate = ['nfl_release']\n"
        "fit_shifts = ['nobody']\n": "fit_shifts: no subject 'nobody' in the data",
        "data = 'x.csv'\nestimate = ['nfl_release']\nrtol = 0\n": "rtol must be > 0, got 0.0",
        "data = 'x.csv'\nestimate = ['nfl_release']\natol = 'tight'\n":
            "atol must be a float, got 'tight'",
    }
    for i, (text, words) in enumerate(cases.items()):
        recipe = tmp_path / f"r{i}.toml"
        recipe.write_text(text)
        line = _fails(["fit", str(recipe), "--out", str(out)], words, out=out)
        assert str(recipe) in line or "missing.csv" in line


def test_recipe_tolerances_reach_the_fit(tmp_path, monkeypatch):
    """A recipe's `rtol` and `atol` reach `fit` and, with `--per-subject`, the stacked
    per-subject problem (each fit is stopped before it compiles: test_fit checks that the
    tolerances reach the solves, and the per-subject Problem runs the same solves)."""
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"data = '{ROOT}/data/synthetic/small_human.csv'\n"
                      "estimate = ['nfl_release']\nrtol = 1e-8\natol = 1e-11\n")
    parsed = alsjax.load_recipe(recipe)
    assert (parsed.rtol, parsed.atol) == (1e-8, 1e-11)
    seen = {}

    class Stop(Exception):
        pass

    def fake_fit(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    def fake_run_starts(z0, pb, *args, **kwargs):
        seen["per_subject"] = pb.tolerances
        raise Stop

    import alsjax._persubject as persubject
    import alsjax._pipeline as pipeline

    monkeypatch.setattr(pipeline, "fit", fake_fit)
    with pytest.raises(Stop):
        alsjax.run_recipe(recipe)
    assert (seen["rtol"], seen["atol"]) == (1e-8, 1e-11)
    monkeypatch.setattr(persubject, "run_starts", fake_run_starts)
    with pytest.raises(Stop):
        persubject.run_per_subject(recipe, progress=False)
    assert seen["per_subject"] == (1e-8, 1e-11)


def test_unwritable_out_dir(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    _fails(["fit", "--out", str(blocker / "out"), "--quiet"], "cannot write")
    if os.geteuid() != 0:  # root can write anywhere; the path-under-a-file case covers it
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        _fails(["fit", "--out", str(ro / "out"), "--quiet"], "cannot write")


def _noise(noise, source=ROOT / "fit/default.toml"):
    recipe, _ = _fit_inputs(source, None, None, None, None, noise, None, None, None, None)
    return recipe.noise


def test_noise_option_over_recipe(tmp_path):
    """The recipe's table as read; `--noise MODEL` replaces it for every observable;
    `--noise OBSERVABLE=MODEL` overrides one key of what is there."""
    assert _noise(None) == {"alsfrs_r": "gaussian", "nfl": "lognormal"}
    every = _noise(["gaussian"])
    assert set(every.values()) == {"gaussian"} and len(every) == 7
    mixed = _noise(["lognormal", "alsfrs_r=gaussian"])
    assert mixed["alsfrs_r"] == "gaussian" and mixed["nfl"] == mixed["fvc"] == "lognormal"
    one = _noise(["fvc=lognormal"])
    assert (one["alsfrs_r"], one["nfl"], one["fvc"], one["umn"]) == (
        "gaussian", "lognormal", "lognormal", "gaussian")
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"data = '{ROOT}/data/synthetic/small_human.csv'\n"
                      "estimate = ['nfl_release']\nnoise = 'lognormal'\n")
    assert _noise(None, recipe) == "lognormal"
    assert _noise(["nfl=gaussian"], recipe)["nfl"] == "gaussian"
    assert _noise(["nfl=gaussian"], recipe)["alsfrs_r"] == "lognormal"


def test_tolerance_options_over_recipe():
    """`--rtol` / `--atol` replace a plain recipe's top-level keys and a population
    recipe's `[population]` ones (where the pipeline reads them); a plain recipe turned
    population (`--population`) and a population recipe fitted per subject carry theirs
    across."""
    from alsjax._recipe import with_population, without_population

    plain, _ = _fit_inputs(ROOT / "fit/default.toml", None, None, None, None, None, None,
                           None, None, None, rtol=1e-8)
    assert (plain.rtol, plain.atol) == (1e-8, None)
    population, _ = _fit_inputs(ROOT / "fit/population.toml", None, None, None, None, None,
                                None, None, None, None, rtol=1e-7, atol=1e-10)
    assert (population.rtol, population.atol) == (None, None)
    assert (population.population.rtol, population.population.atol) == (1e-7, 1e-10)
    split = without_population(population)
    assert (split.rtol, split.atol, split.population) == (1e-7, 1e-10, None)
    joined = with_population(plain, random=("apoptotic_death_rate",))
    assert (joined.rtol, joined.population.rtol, joined.population.atol) == (None, 1e-8, None)


@pytest.mark.parametrize("args,words", [
    (["--rtol", "-1e-8"], ("rtol must be a finite number > 0, got -1e-08",)),
    (["--atol", "nan"], ("atol must be a finite number > 0, got nan",)),
    (["--rtol", "tight"], ("--rtol", "should be a valid number")),
    (["--per-subject", "--rtol", "0"], ("rtol must be a finite number > 0, got 0.0",)),
])
def test_bad_tolerance_options(tmp_path, args, words):
    out = tmp_path / "o"
    _fails(["fit", *args, "--out", str(out), "--quiet"], *words, out=out)
    if "--per-subject" not in args:  # `alsjax profile` takes the same tolerances
        _fails(["profile", str(ROOT / "fit/default.toml"), "--parameter", "nfl_release",
                *args, "--out", str(out), "--quiet"], *words, out=out)


def test_data_made_under_another_preset_version_is_named():
    """A data file with a truth file beside it (as `alsjax synth` writes) that names another
    preset version than the fit's gets a warning: the shipped synthetic data were made
    under 2026.12, and fitted under the newest their pace sends apoptotic_death_rate to
    its bound."""
    data = ROOT / "data/synthetic/small_human.csv"

    def note(source, **kw):
        recipe, _ = _fit_inputs(source, ["nfl_release"], None, None, None, None, None, None,
                                None, None, **kw)
        return _preset_note(recipe.data, recipe.preset_version)

    assert note(data) == (
        f"{ROOT / 'data/synthetic/small_human_truth.json'} says these data were made under "
        f"preset version 2026.12; this fit used {alsjax.PRESET_VERSIONS[-1]} "
        "(--preset-version 2026.12 fits them as made)")
    assert note(data, preset_version="2026.12") is None  # as made: nothing to say
    assert "this fit used 2026.12.4 " in note(data, preset_version="2026.12.4")
    assert note(ROOT / "fit/default.toml") is None  # the recipe names the data's version
    assert note(ROOT / "data/published/gaiottino2013_serum_nfl.csv") is None  # no truth file


def test_fit_help_states_the_defaults():
    """`alsjax fit --help` gives the default of every option that falls back on the
    recipe's value, and each stated default is the one the code uses."""
    from typer.main import get_command

    from alsjax._problem import DEFAULT_OPTIMISER
    from alsjax._recipe import PopulationSpec, Recipe

    helps = {p.name: p.help for p in get_command(app).commands["fit"].params}
    plain = Recipe(data=Path("d.csv"), estimate=("nfl_release",))  # a data file's recipe
    population = alsjax.load_recipe(ROOT / "fit/population.toml")  # sets neither key
    stated = {
        "starts": (f"for a data file {plain.starts}, or {population.starts} with "
                   "--population"),
        "seed": f"else {plain.seed})",
        "max_steps": (f"for a data file {plain.max_steps}, or {population.max_steps} outer "
                      "steps with --population"),
        "optimiser": f"else {DEFAULT_OPTIMISER})",
        "align": f"else {plain.align})",
        "covariance": f"else {PopulationSpec(random=('nfl_release',)).covariance}.",
        "noise": "OBSERVABLE=MODEL:SD",
    }
    for name, words in stated.items():
        assert words in helps[name], (name, helps[name])
    assert "the recipe's" in helps["starts"] and "the recipe's" in helps["align"]


def test_interval_text_as_printed():
    """The table's interval cell: a profile end that never crosses the threshold is the
    bound; an undefined Laplace interval says so (rich once dropped "[nan, nan]" as a
    markup tag, leaving the cell empty)."""
    import io
    import math

    from rich.console import Console

    def printed(*args):
        buffer = io.StringIO()
        Console(file=buffer, width=200).print(_interval_text(*args))
        return buffer.getvalue().strip()

    assert printed(0.0055, math.nan, 0.001, 0.6, True) == "[0.0055, 0.6 (bound)]"
    assert printed(math.nan, 2.0, 0.001, 5.0, True) == "[0.001 (bound), 2]"
    assert printed(math.nan, math.nan, 0.0, 1.0, False) == "undefined"
    assert printed(0.5755, 0.7238, 0.5, 0.98, False) == "[0.5755, 0.7238]"


def test_fit_figure_names_the_data_clock():
    """fit.png's time axis: onset-aligned data read "since onset" unless the fit moves
    their day 0 (fitted time shifts, or an estimated onset_threshold, as the riluzole
    recipe uses for the stage at randomisation); then "since the data's day 0"."""
    from types import SimpleNamespace

    from alsjax._report import _origin, time_axis

    human = pd.DataFrame({"species": ["human"]})
    onset = SimpleNamespace(onset_aligned=np.array([True]))
    cascade = SimpleNamespace(onset_aligned=np.array([False]))
    fixed = SimpleNamespace(time_shift=None, names=("riluzole_efficacy",))
    shifted = SimpleNamespace(time_shift=np.zeros(1), names=("apoptotic_death_rate",))
    staged = SimpleNamespace(time_shift=None, names=("onset_threshold", "riluzole_efficacy"))
    assert _origin(human, onset, fixed) == "onset"
    assert _origin(human, cascade, staged) == "cascade start"
    for result in (shifted, staged):
        assert time_axis(_origin(human, onset, result), 400.0)[1] == \
            "days since the data's day 0"
    assert _origin(pd.DataFrame({"species": ["mouse"]}), onset, staged) == "age"


def test_bound_options_over_recipe():
    """`--bound NAME=LOW,HIGH` replaces that parameter's bounds in the recipe and keeps the
    others; with a data file it gives bounds where there were none."""
    recipe = ROOT / "fit/published/riluzole_bensimon.toml"
    shipped = alsjax.load_recipe(recipe).bounds
    moved, _ = _fit_inputs(recipe, None, None, None, None, None, None, None, None, None,
                           bound=["onset_threshold=0.05, 0.98"])
    assert moved.bounds == {**shipped, "onset_threshold": (0.05, 0.98)}
    assert shipped["onset_threshold"] != (0.05, 0.98)
    data, _ = _fit_inputs(ROOT / "data/synthetic/small_human.csv", ["nfl_release"], None,
                          None, None, None, None, None, None, None,
                          bound=["nfl_release=100,1e4"])
    assert data.bounds == {"nfl_release": (100.0, 1e4)}


@pytest.mark.parametrize("args,words", [
    (["--bound", "nfl_release"], ("--bound 'nfl_release'", "expected NAME=LOW,HIGH")),
    (["--bound", "nfl_release=1e3"], ("expected NAME=LOW,HIGH",)),
    (["--bound", "nfl_release=low,high"], ("expected NAME=LOW,HIGH",)),
    (["--bound", "nfl_release=1e3,inf"], ("two finite numbers",)),
    (["--bound", "nfl_release=1,2", "--bound", "nfl_release=3,4"], ("named twice",)),
    (["--bound", "nfl_release=5e3,1e3"], ("bounds of nfl_release", "lower 5000 must be below",)),
    (["--bound", "nfl_release=-1,1e3"], ("bounds of nfl_release",)),
    (["--bound", "nfl_relase=1,2"], ("'nfl_relase' is not among the estimated parameters",)),
    (["--bound", "nfl_release=1,2", "--population", "--random", "nfl_release"],
     ("--bound: a population fit is unbounded",)),
])
def test_bad_bound_options(tmp_path, args, words):
    out = tmp_path / "o"
    _fails(["fit", *args, "--out", str(out), "--quiet"], *words, out=out)
    if "--population" not in args:  # `alsjax profile` takes the same bounds
        _fails(["profile", str(ROOT / "fit/default.toml"), "--parameter", "nfl_release",
                *args, "--out", str(out), "--quiet"], *words, out=out)


def test_plausible_priors(tmp_path):
    """`--plausible-priors` gives every estimated parameter the documented range of the
    data's genotype and species at the recipe's preset version as prior, as
    `alsjax.plausible_priors` states it, and summary.json records the priors. A MAP fit's
    -log posterior is at least the fit's -log likelihood without priors (the priors add
    a non-negative term and move the optimum off the likelihood's)."""
    out = tmp_path / "o"
    r = runner.invoke(app, ["fit", "--plausible-priors", "--quiet", "--out", str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    recipe = alsjax.load_recipe(ROOT / "fit/default.toml")
    expected = alsjax.plausible_priors(recipe.estimate, "sporadic", "human",
                                       preset_version=recipe.preset_version)
    assert set(summary["priors"]) == set(recipe.estimate)
    # the recipe's version (2026.12) has no population calibration: the documented range
    # itself, the preset as median and the table's GSD
    from alsjax._priors import RANGES

    preset = alsjax.physical(alsjax.default_params(preset_version=recipe.preset_version))
    for name in recipe.estimate:
        assert expected[name] == pytest.approx((float(preset[name]), RANGES[name].spread),
                                               rel=1e-9), name
    for name, (median, gsd) in expected.items():
        got = summary["priors"][name]
        assert got["median"] == pytest.approx(median, rel=1e-9), name
        assert got["gsd"] == pytest.approx(gsd, rel=1e-9), name
    plain = alsjax.run_recipe(recipe)
    assert summary["objective"] >= plain.objective - 1e-9
    assert summary["estimates"] != pytest.approx(plain.estimates, rel=1e-9)


def test_plausible_priors_in_a_recipe(tmp_path):
    """A recipe names them per parameter (`"plausible"`) or for all (`plausible_priors`);
    explicit { median, gsd } priors stay as given."""
    from alsjax._recipe import fit_priors

    data = ROOT / "data/synthetic/small_human.csv"
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"data = '{data}'\nestimate = ['nfl_release', 'aggregation_rate']\n"
                      "plausible_priors = true\n[priors]\n"
                      "nfl_release = { median = 1500.0, gsd = 2.0 }\n")
    loaded = alsjax.load_recipe(recipe)
    df = alsjax.read_measurements(data)
    assert fit_priors(loaded, df) == {"nfl_release": (1500.0, 2.0),
                                      **alsjax.plausible_priors(["aggregation_rate"])}
    recipe.write_text(f"data = '{data}'\nestimate = ['nfl_release']\n"
                      "[priors]\nnfl_release = 'plausible'\n")
    assert fit_priors(alsjax.load_recipe(recipe), df) == alsjax.plausible_priors(
        ["nfl_release"])


@pytest.mark.parametrize("args,words", [
    ([str(ROOT / "data/synthetic/human_cohort.csv"), "--estimate", "nfl_release",
      "--plausible-priors"], ("plausible priors need one genotype and species",
                              "C9orf72 human", "sporadic human")),
    ([str(ROOT / "data/synthetic/small_human.csv"), "--estimate", "mutant_sod1",
      "--plausible-priors"], ("plausible prior of mutant_sod1", "0 in the sporadic preset")),
    ([str(ROOT / "fit/population.toml"), "--plausible-priors"],
     ("--plausible-priors: a population fit has no priors",)),
    (["--plausible-priors", "--population", "--random", "nfl_release"],
     ("--plausible-priors: a population fit has no priors",)),
])
def test_bad_plausible_priors(tmp_path, args, words):
    out = tmp_path / "o"
    _fails(["fit", *args, "--out", str(out), "--quiet"], *words, out=out)


def test_bad_plausible_priors_in_a_recipe(tmp_path):
    data = ROOT / "data/synthetic/small_human.csv"
    recipe, out = tmp_path / "r.toml", tmp_path / "o"
    for body, words in (("[priors]\nnfl_release = 'plausibel'\n",
                         ("priors.nfl_release must be", 'or "plausible"', "'plausibel'")),
                        ("plausible_priors = 'yes'\n", ("plausible_priors must be a bool",))):
        recipe.write_text(f"data = '{data}'\nestimate = ['nfl_release']\n{body}")
        _fails(["fit", str(recipe), "--out", str(out), "--quiet"], *words, out=out)


def test_bound_refused_for_a_population_recipe(tmp_path):
    out = tmp_path / "o"
    _fails(["fit", str(ROOT / "fit/population.toml"), "--bound", "apoptotic_death_rate=1e-3,1",
            "--out", str(out), "--quiet"], "--bound: a population fit is unbounded", out=out)


@pytest.mark.parametrize("option", [["--profile", "nfl_release"], ["--optimiser", "adam"]],
                         ids=["profile", "optimiser"])
@pytest.mark.parametrize("source", [
    [str(ROOT / "data/synthetic/small_human.csv"), "--population", "--random", "nfl_release"],
    [str(ROOT / "fit/population.toml")],
], ids=["data-file", "population-recipe"])
def test_profile_and_optimiser_refused_for_a_population_fit(tmp_path, source, option):
    """A population fit has neither profiles nor a choice of optimiser: the options are
    refused, as the recipe keys are, instead of being ignored."""
    out = tmp_path / "o"
    _fails(["fit", *source, *option, "--out", str(out), "--quiet"],
           f"{option[0]}: ", "a population fit", out=out)


@pytest.mark.parametrize("args,words", [
    (["--noise", "poisson"], ("--noise: expected 'gaussian' or 'lognormal'", "'poisson'")),
    (["--noise", "nfl=poisson"], ("--noise nfl=poisson", "'poisson'")),
    (["--noise", "nfll=lognormal"], ("--noise", "unknown observable 'nfll'")),
    (["--noise", "gaussian", "--noise", "lognormal"], ("--noise", "at most one")),
    (["--noise", "nfl=gaussian", "--noise", "nfl=lognormal"], ("nfl is named twice",)),
])
def test_bad_noise_option(tmp_path, args, words):
    out = tmp_path / "o"
    _fails(["fit", *args, "--out", str(out)], *words, out=out)


def test_bad_noise_in_recipe(tmp_path):
    out = tmp_path / "o"
    head = f"data = '{ROOT}/data/synthetic/small_human.csv'\nestimate = ['nfl_release']\n"
    cases = {
        "[noise]\nnfll = 'lognormal'\n": "noise: unknown observable 'nfll' (did you mean",
        "[noise]\nnfl = 'poisson'\n": "noise.nfl: expected 'gaussian' or 'lognormal'",
        "noise = 'poisson'\n": "noise: expected 'gaussian' or 'lognormal', got 'poisson'",
        "noise = 3\n": "noise must be",
    }
    for i, (text, words) in enumerate(cases.items()):
        recipe = tmp_path / f"n{i}.toml"
        recipe.write_text(head + text)
        line = _fails(["fit", str(recipe), "--out", str(out)], words, out=out)
        assert line.startswith(f"error: {recipe}: "), line


@pytest.mark.parametrize("path", sorted((ROOT / "fit").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_recipes_load_and_resolve_their_priors(path):
    """Every recipe in fit/ loads, its data read, and its priors resolve as the fit would
    take them (the prior cohort's plausible ones subject by subject, for --per-subject:
    a genotype's own range for each of its subjects)."""
    from alsjax._recipe import fit_priors

    recipe = alsjax.load_recipe(path)
    df = alsjax.read_measurements(recipe.data)
    subjects = [str(s) for s in dict.fromkeys(df["subject"])]
    priors = fit_priors(recipe, df, subjects=subjects)
    assert set(priors) == set(recipe.priors) | (set(recipe.estimate)
                                                if recipe.plausible_priors else set())
    if path.name == "prior_cohort.toml":
        genotype = dict(zip(df["subject"].astype(str), df["genotype"], strict=True))
        for n in recipe.estimate:
            want = [alsjax.plausible_priors([n], genotype[s])[n] for s in subjects]
            assert priors[n] == want


def test_human_data_on_the_cascade_clock_by_default_is_named(tmp_path):
    """A human data file fitted without --align is read on the cascade's clock: a warning
    says so, unless it is synthetic (a truth file beside it, as `alsjax synth` writes),
    --align was given, it is a recipe, or it holds mice only."""
    shipped = ROOT / "data/synthetic/small_human.csv"
    own = tmp_path / "my_patients.csv"
    own.write_bytes(shipped.read_bytes())
    note = _clock_note(own, None)
    assert note is not None and "--align onset" in note and str(own) in note
    assert _clock_note(own, "onset") is None and _clock_note(own, "cascade") is None
    assert _clock_note(shipped, None) is None  # its truth file: made on that clock
    assert _clock_note(ROOT / "fit/default.toml", None) is None
    assert _clock_note(None, None) is None
    mice = tmp_path / "mice.csv"
    mice.write_bytes((ROOT / "data/synthetic/mouse_sod1.csv").read_bytes())
    assert _clock_note(mice, None) is None
