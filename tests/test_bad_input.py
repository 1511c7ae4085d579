"""A corpus of bad input to `alsjax fit`: malformed data files, broken recipes and bad
options. Each one must stop with exit code 2, one line on stderr that starts `error:` and
names the problem, no traceback, and an existing output folder left byte for byte as it
was. Every error here is raised before any JAX compilation, so the corpus runs in-process
in seconds; a few cases also run as a real process to prove stderr holds one line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alsjax.cli import app

ROOT = Path(__file__).resolve().parent.parent
H = "subject,time,observable,value"
GOOD = f"{H}\np1,600,alsfrs_r,45\np1,660,alsfrs_r,44\np1,600,nfl,30\n"
"""A valid data file: what recipe and option cases fit, so only their own fault stops them."""

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_persistent_cache(monkeypatch):
    """The CLI would read and fill ~/.cache/alsjax/jax; tests compile from scratch."""
    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")


def _csv(content, fragment, *extra):
    """A data file fitted with `--estimate nfl_release` (plus `extra` options); the error
    starts with the file's path."""
    return ("csv", content, list(extra), fragment, "data.csv")


def _toml(text, fragment, culprit="recipe.toml"):
    """A recipe; `{data}` in it is the path of a valid data file, `{bad}` of one with an
    ALSFRS-R of 49.5 on row 3. The error starts with the path of `culprit` (None: no file)."""
    return ("toml", text, [], fragment, culprit)


def _option(args, fragment):
    """Options on the valid data file."""
    return ("option", None, list(args), fragment, None)


RECIPE = "data = '{data}'\nestimate = ['nfl_release']\n"

CASES = [
    # --- the layout of the file ------------------------------------------------------
    pytest.param(*_csv("", "empty file"), id="empty-file"),
    pytest.param(*_csv("\n\n  \n", "empty file"), id="blank-lines-only"),
    pytest.param(*_csv(f"{H}\n", "no data rows after the header"), id="header-only"),
    pytest.param(*_csv(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a binary file"), id="binary"),
    pytest.param(*_csv(b"subject,time\xff\xfe,observable,value\n", "not UTF-8"),
                 id="not-utf8"),
    pytest.param(*_csv("subject,time,observble,value\np1,0,nfl,4\n",
                       "row 1: missing column 'observable' (found 'observble'?)"),
                 id="missing-column"),
    pytest.param(*_csv("subject;time;observable;value\np1;0;nfl;4\n", "row 1: missing column "
                       "'subject'; required columns are subject, time, observable, value; the "
                       "header seems to be separated by semicolons"), id="semicolon-separated"),
    pytest.param(*_csv("subject,time,time,observable,value\np1,0,0,nfl,4\n",
                       "row 1, field 'time': duplicated column"), id="duplicated-column"),
    pytest.param(*_csv("subject,,observable,value\np1,0,nfl,4\n", "row 1: a column has an "
                       "empty name"), id="empty-column-name"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\n{H}\np2,0,nfl,5\n", "row 3: the header line "
                       "appears again"), id="header-repeated"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np1,5,nfl,4,7\n", "row 3: expected 4 fields, found 5"),
                 id="wrong-field-count"),
    pytest.param(*_csv(f'{H}\np1,0,nfl,"4\np1,5,nfl,6\n', "row 2: a quote opened on this "
                       "line is not closed (the field runs on to line 3)"), id="unclosed-quote"),
    pytest.param(*_csv("observableId,simulationConditionId,tme,measurement\nnfl,c,0,1\n",
                       "missing PEtab column 'time' (found 'tme'?)"), id="petab-missing-column"),
    # --- cells that are not what their column needs ----------------------------------
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np1,soon,nfl,5\n", "row 3, field 'time': not a "
                       "number: 'soon'"), id="time-not-a-number"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np1,-3,nfl,5\n", "row 3, field 'time': negative "
                       "time -3"), id="time-negative"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,\n", "row 2, field 'value': empty"), id="value-empty"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np1,5,nfl,NaN\n", "row 3, field 'value': not a "
                       "number"), id="value-nan"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,-inf\n", "row 2, field 'value': not finite"),
                 id="value-inf"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\n,5,nfl,4\n", "row 3, field 'subject': empty "
                       "subject id"), id="subject-empty"),
    pytest.param(*_csv(f"{H}\np1,0,alsfrs,40\n", "row 2, field 'observable': unknown "
                       "observable 'alsfrs' (did you mean 'alsfrs_r'?)"),
                 id="observable-unknown-suggests"),
    pytest.param(*_csv(f"{H},genotype\np1,0,nfl,4,SOD2\n", "row 2, field 'genotype': unknown "
                       "genotype 'SOD2' (did you mean 'SOD1'?)"), id="genotype-unknown"),
    pytest.param(*_csv(f"{H},species\np1,0,nfl,4,rat\n", "row 2, field 'species': unknown "
                       "species 'rat'"), id="species-unknown"),
    pytest.param(*_csv(f"{H},genotype,species\np1,0,nfl,4,C9orf72,mouse\n", "row 2, field "
                       "'genotype': species 'mouse' models the SOD1-G93A line only"),
                 id="mouse-not-sod1"),
    pytest.param(*_csv(f"{H},therapy\np1,0,nfl,4,aspirin\n", "row 2, field 'therapy': unknown "
                       "therapy 'aspirin'"), id="therapy-unknown"),
    pytest.param(*_csv(f"{H},therapy\np1,0,nfl,4,\np1,5,nfl,4,aspirin:0\n", "row 3, field "
                       "'therapy': unknown therapy 'aspirin'"), id="therapy-unknown-later-row"),
    pytest.param(*_csv(f"{H},therapy\np1,0,nfl,4,riluzole:soon\n", "row 2, field 'therapy': "
                       "start day 'soon' of 'riluzole' is not a number"),
                 id="therapy-day-not-a-number"),
    pytest.param(*_csv(f'{H},therapy\np1,0,nfl,4,"riluzole:0,riluzole:100"\n', "row 2, "
                       "field 'therapy': drug 'riluzole' is named twice"), id="therapy-drug-twice"),
    pytest.param(*_csv(f"{H},therapy\np1,0,nfl,4,tofersen:0\n", "row 2, field 'therapy': "
                       "tofersen targets mutant SOD1"), id="tofersen-not-sod1"),
    pytest.param(*_csv(f"{H},therapy\np1,0,nfl,4,riluzole:1e9\n", "row 2, field 'therapy': "
                       "start day 1e+09 of 'riluzole' is later than day 36525"),
                 id="therapy-start-beyond-horizon"),
    pytest.param(*_csv(f"{H},genotype\np1,0,nfl,4,SOD1\np1,9,nfl,4,FUS\n", "row 3, field "
                       "'genotype': subject 'p1' has genotype 'FUS' here but 'SOD1' on row 2"),
                 id="subject-two-genotypes"),
    pytest.param(*_csv(f"{H},therapy_start\np1,0,nfl,4,-2\n", "row 2, field 'therapy_start': "
                       "negative start day -2"), id="therapy-start-negative"),
    pytest.param(*_csv(f"{H},n\np1,0,nfl,4,0\n", "row 2, field 'n': n (subjects behind a "
                       "summary row) must be >= 1"), id="n-zero"),
    # --- events ----------------------------------------------------------------------
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np1,300,death,1\np1,400,death,1\n", "row 4, field "
                       "'observable': subject 'p1' has more than one 'death' row"),
                 id="event-twice"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np1,300,death,2\n", "row 3, field 'value': event "
                       "'death' needs value 1"), id="event-value-2"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np2,0,death,0\n", "row 3, field 'subject': subject "
                       "'p2' has no usable rows"), id="subject-no-usable-rows"),
    # --- arm summaries of events (survival curves) ------------------------------------
    pytest.param(*_csv(f"{H},n\narm,365,death,1.4,78\n", "row 2, field 'value': an event "
                       "summary's value is the fraction of the arm with the event by time "
                       "(0 to 1), got 1.4"), id="arm-fraction-above-1"),
    pytest.param(*_csv(f"{H},n\narm,0,death,0.1,78\n", "row 2, field 'time': an event "
                       "summary at day 0 says nothing"), id="arm-at-day-0"),
    pytest.param(*_csv(f"{H},n\narm,180,death,0.3,78\narm,365,death,0.2,78\n", "row 3, field "
                       "'value': the fraction of arm 'arm' with 'death' falls from 0.3 (day "
                       "180) to 0.2 (day 365)"), id="arm-fraction-falls"),
    pytest.param(*_csv(f"{H},n\narm,180,death,0.1,78\narm,365,death,0.2,60\n", "row 3, "
                       "field 'n': arm 'arm''s 'death' summaries give n 78 and 60"),
                 id="arm-n-changes"),
    pytest.param(*_csv(f"{H},n\narm,365,death,0.1,78\narm,365,death,0.2,78\n", "row 3, "
                       "field 'time': two 'death' summaries of arm 'arm' at day 365"),
                 id="arm-two-at-one-day"),
    pytest.param(*_csv(f"{H},n,sigma\narm,180,death,0.1,78,0.5\narm,365,death,0.2,78,\n",
                       "row 3, field 'sigma': arm 'arm''s 'death' summaries give different "
                       "sigma"), id="arm-sigma-changes"),
    pytest.param(*_csv(f"{H},n,sigma\narm,365,death,0.2,78,9\n", "row 2, field 'sigma': "
                       "sigma 9 is the SD of log event time; above 5"), id="event-sigma-huge"),
    # --- physically impossible numbers -----------------------------------------------
    pytest.param(*_csv(f"{H}\np1,0,alsfrs_r,40\np1,90,alsfrs_r,-12\n", "row 3, field 'value': "
                       "alsfrs_r value -12 is outside its physical range [0, 48]"),
                 id="alsfrs-negative"),
    pytest.param(*_csv(f"{H}\np1,0,alsfrs_r,40\np1,90,alsfrs_r,460\n", "row 3, field 'value': "
                       "alsfrs_r value 460 is outside its physical range [0, 48]"),
                 id="alsfrs-460"),
    pytest.param(*_csv(f"{H}\np1,0,alsfrs_r,48.0001\n", "row 2, field 'value': alsfrs_r value "
                       "48.0001 is outside"), id="alsfrs-just-above-48"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np1,90,nfl,1e308\n", "row 3, field 'value': nfl value "
                       "1e+308 is outside its physical range (0, 100000]"), id="nfl-1e308"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,0\n", "row 2, field 'value': nfl value 0 is outside"),
                 id="nfl-zero"),
    pytest.param(*_csv(f"{H}\np1,0,lmn,1.5\n", "row 2, field 'value': lmn value 1.5 is outside "
                       "its physical range [0, 1]"), id="lmn-1.5"),
    pytest.param(*_csv(f"{H}\np1,0,umn,-0.1\n", "row 2, field 'value': umn value -0.1"),
                 id="umn-negative"),
    pytest.param(*_csv(f"{H}\np1,0,spasticity,5\n", "row 2, field 'value': spasticity value 5 "
                       "is outside its physical range [0, 4]"), id="spasticity-5"),
    pytest.param(*_csv(f"{H}\np1,0,fvc,0\n", "row 2, field 'value': fvc value 0"), id="fvc-0"),
    pytest.param(*_csv(f"{H},species\nm1,60,grip_strength,250,mouse\n", "row 2, field 'value': "
                       "grip_strength value 250 is outside its physical range [0, 200]"),
                 id="grip-250"),
    pytest.param(*_csv(f"{H},sigma,n\narmA,0,alsfrs_r,50,0.4,80\n", "row 2, field 'value': "
                       "alsfrs_r value 50"), id="arm-summary-out-of-range"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np1,40000,nfl,5\n", "row 3, field 'time': time 40000 "
                       "is later than day 36525, the most a human dataset can span"),
                 id="time-beyond-human-horizon"),
    pytest.param(*_csv(f"{H},species\nm1,60,nfl,40,mouse\nm1,1440,nfl,50,mouse\n", "row 3, "
                       "field 'time': time 1440 is later than day 1000, the most a mouse"),
                 id="time-beyond-mouse-horizon"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np1,1e308,nfl,5\n", "row 3, field 'time': time "
                       "1e+308"), id="time-1e308"),
    pytest.param(*_csv(f"{H},sigma\np1,0,nfl,4,0\n", "row 2, field 'sigma': sigma must be > 0"),
                 id="sigma-zero"),
    pytest.param(*_csv(f"{H},sigma\np1,0,nfl,4,\np1,9,nfl,4,nan\n", "row 3, field 'sigma': "
                       "not a number"), id="sigma-nan"),
    pytest.param(*_csv(f"{H},sigma\np1,0,alsfrs_r,40,60\n", "row 2, field 'sigma': sigma 60 is "
                       "wider than the whole range of alsfrs_r"), id="sigma-wider-than-scale"),
    pytest.param(*_csv(f"{H},lloq\np1,0,nfl,4,-1\n", "row 2, field 'lloq': lloq must be > 0"),
                 id="lloq-negative"),
    pytest.param(*_csv(f"{H},lloq\np1,0,nfl,4,1e9\n", "row 2, field 'lloq': lloq 1e+09 is "
                       "outside the physical range of nfl"), id="lloq-beyond-range"),
    pytest.param(*_csv(f"{H},lloq\np1,0,nfl,4,\np1,300,death,1,2\n", "row 3, field 'lloq': an "
                       "event row has no limit of quantification"), id="lloq-on-event"),
    pytest.param(*_csv(f"{H}\np1,0,nfl,4\np1,90,nfl,5\np1,180,nfl,6\np1,90,nfl,5\n",
                       "row 5: rows 3 and 5 are identical: subject 'p1', time 90, nfl 5"),
                 id="identical-rows"),
    pytest.param(*_csv(f"{H}\np1,90,nfl,5\np1,90.0,nfl,5.00\n", "rows 2 and 3 are identical"),
                 id="identical-rows-written-differently"),
    # --- recipes ---------------------------------------------------------------------
    pytest.param(*_toml("data = = 1\n", "not valid TOML"), id="recipe-not-toml"),
    pytest.param(*_toml(RECIPE.replace("data", "datta"), "unknown key 'datta' (did you mean "
                        "'data'?)"), id="recipe-unknown-key"),
    pytest.param(*_toml("data = '{data}'\n", "missing key 'estimate'"),
                 id="recipe-missing-estimate"),
    pytest.param(*_toml("data = '{data}'\nestimate = []\n", "estimate must be a non-empty list"),
                 id="recipe-empty-estimate"),
    pytest.param(*_toml(RECIPE + "starts = 'four'\n", "starts must be a int, got 'four'"),
                 id="recipe-starts-not-int"),
    pytest.param(*_toml(RECIPE + "seed = -1\n", "seed must be >= 0, got -1"),
                 id="recipe-seed-negative"),
    pytest.param(*_toml(RECIPE + "[bounds]\nnfl_release = [1.0]\n", "bounds.nfl_release must "
                        "be [lower, upper]"), id="recipe-bounds-one-number"),
    pytest.param(*_toml(RECIPE + "[bounds]\nnfl_release = [5000.0, 500.0]\n", "bounds of "
                        "nfl_release: lower 5000 must be below upper 500", None),
                 id="recipe-bounds-reversed"),
    pytest.param(*_toml(RECIPE + "[priors]\nnfl_release = { median = 1000.0, gsd = 0.5 }\n",
                        "geometric SD must be > 1", None), id="recipe-prior-gsd"),
    pytest.param(*_toml(RECIPE + "[noise]\nnfl = 'poisson'\n", "noise.nfl: expected 'gaussian' "
                        "or 'lognormal'"), id="recipe-noise-unknown"),
    pytest.param(*_toml(RECIPE.replace("{data}", "nowhere.csv"), "No such file",
                        "nowhere.csv"),
                 id="recipe-data-missing"),
    pytest.param(*_toml(RECIPE.replace("{data}", "{bad}"), "row 3, field 'value': alsfrs_r "
                        "value 49.5 is outside", "bad.csv"), id="recipe-data-out-of-range"),
    # --- options ---------------------------------------------------------------------
    pytest.param(*_option(["--estimate", "nfl_relase"], "did you mean 'nfl_release'"),
                 id="estimate-unknown-parameter"),
    pytest.param(*_option(["--estimate", "nfl_release", "--estimate", "nfl_release"],
                          "named twice"), id="estimate-twice"),
    pytest.param(*_option(["--estimate", "nfl_release", "--optimiser", "newton"],
                          "'--optimiser': 'newton' is not one of 'lm', 'lbfgs', 'adam'"),
                 id="optimiser-unknown"),
    pytest.param(*_option(["--estimate", "nfl_release", "--starts", "0"],
                          "starts must be >= 1, got 0"), id="starts-zero"),
    pytest.param(*_option(["--estimate", "nfl_release", "--seed", "-1"],
                          "--seed: must be >= 0, got -1"), id="seed-negative"),
    pytest.param(*_option(["--population", "--random", "nfl_release", "--seed", "-1"],
                          "--seed: must be >= 0, got -1"), id="seed-negative-population"),
    pytest.param(*_option(["--estimate", "nfl_release", "--max-steps", "0"],
                          "max_steps must be >= 1"), id="max-steps-zero"),
    pytest.param(*_option(["--estimate", "nfl_release", "--align", "sideways"],
                          "'--align': 'sideways' is not one of 'cascade', 'onset'"),
                 id="align-unknown"),
    pytest.param(*_option(["--estimate", "nfl_release", "--noise", "poisson"],
                          "--noise: expected 'gaussian' or 'lognormal'"), id="noise-unknown"),
    pytest.param(*_option(["--estimate", "nfl_release", "--profile", "aggregation_rate"],
                          "profile aggregation_rate: not among the estimated"),
                 id="profile-not-estimated"),
    pytest.param(*_option([], "a data file needs --estimate NAME"), id="data-without-estimate"),
]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _prepare(tmp_path: Path, kind, content, extra) -> list[str]:
    """The `fit` arguments of one case, its files written into `tmp_path`."""
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    if kind == "csv":
        data = tmp_path / "data.csv"
        if isinstance(content, bytes):
            data.write_bytes(content)
        else:
            data.write_text(content)
        return [str(data), "--estimate", "nfl_release", *extra]
    if kind == "toml":
        bad = tmp_path / "bad.csv"
        bad.write_text(f"{H}\np1,600,alsfrs_r,45\np1,660,alsfrs_r,49.5\n")
        recipe = tmp_path / "recipe.toml"
        recipe.write_text(content.replace("{data}", str(good)).replace("{bad}", str(bad)))
        return [str(recipe), *extra]
    return [str(good), *extra]


def _out_folder(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("a result from an earlier run\n")
    (out / "parameters.csv").write_text("parameter,estimate\nnfl_release,1000\n")
    return out


def _check(code: int, stdout: str, stderr: str, fragment: str) -> str:
    assert "Traceback" not in stdout + stderr, stdout + stderr
    assert code == 2, (code, stdout, stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and stderr.endswith("\n"), stderr
    assert lines[0].startswith("error: "), lines[0]
    assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("kind, content, extra, fragment, culprit", CASES)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, kind, content, extra, fragment,
                                                  culprit):
    args = _prepare(tmp_path, kind, content, extra)
    out = _out_folder(tmp_path)
    before = _snapshot(out)
    r = runner.invoke(app, ["fit", *args, "--quiet", "--out", str(out)])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    line = _check(r.exit_code, r.stdout, r.stderr, fragment)
    if culprit is not None:
        assert line.startswith(f"error: {tmp_path / culprit}"), line
    assert _snapshot(out) == before
    written = {"csv": {"data.csv"}, "toml": {"recipe.toml", "bad.csv"}, "option": set()}
    assert {p.name for p in tmp_path.iterdir()} == {"good.csv", "out", *written[kind]}


def test_the_corpus_is_large_and_its_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)


SUBPROCESS = ["alsfrs-460", "binary", "recipe-unknown-key"]


@pytest.mark.parametrize("kind, content, extra, fragment, culprit",
                         [c for c in CASES if c.id in SUBPROCESS])
def test_a_real_process_prints_one_line_and_no_traceback(tmp_path, kind, content, extra,
                                                         fragment, culprit):
    args = _prepare(tmp_path, kind, content, extra)
    out = _out_folder(tmp_path)
    before = _snapshot(out)
    env = dict(os.environ, PYTHONPATH=str(ROOT), ALSJAX_CACHE_DIR="off")
    p = subprocess.run([sys.executable, "-m", "alsjax.cli", "fit", *args, "--quiet", "--out",
                        str(out)], capture_output=True, text=True, env=env, timeout=120)
    _check(p.returncode, p.stdout, p.stderr, fragment)
    assert p.stdout == ""
    assert _snapshot(out) == before


@pytest.mark.parametrize("table", ["[bounds]\nnfl_release = [5000.0, 500.0]\n",
                                   "[priors]\nnfl_release = { median = 1000.0, gsd = 0.5 }\n"])
def test_fit_setup_errors_name_the_recipe(tmp_path, table):
    args = _prepare(tmp_path, "toml", RECIPE + table, [])
    r = runner.invoke(app, ["fit", *args, "--quiet", "--out", str(tmp_path / "o")])
    _check(r.exit_code, r.stdout, r.stderr, f"error: {tmp_path / 'recipe.toml'}: ")


@pytest.mark.parametrize("args", [["--starts", "abc"], ["--estimat", "nfl_release"]],
                         ids=["starts-not-an-integer", "option-misspelt"])
def test_usage_errors_are_one_line(tmp_path, args):
    r = runner.invoke(app, ["fit", *_prepare(tmp_path, "option", None, args), "--quiet",
                            "--out", str(tmp_path / "o")])
    _check(r.exit_code, r.stdout, r.stderr, args[0])


def test_no_arguments_print_the_whole_help():
    """`alsjax` alone prints the usual help, one option or command a line (exit code 2, as
    click's `no_args_is_help`), not a usage error folded onto one line."""
    r = runner.invoke(app, [])
    assert r.exit_code == 2, r.output
    assert "error:" not in r.output and "Traceback" not in r.output
    lines = r.stderr.splitlines()
    assert lines[0].startswith("Usage: "), r.stderr
    assert any(line.strip().startswith("fit ") for line in lines), r.stderr
    assert any(line.strip().startswith("--version ") for line in lines), r.stderr
