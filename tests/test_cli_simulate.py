"""`alsjax simulate` and `alsjax params`: outputs, and one-line errors with no files left."""

import csv
import io
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import alsjax
from alsjax.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_persistent_cache(monkeypatch):
    # The CLI turns on JAX's on-disk compilation cache; tests keep the user's disk clean.
    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")


def _run(*args):
    return runner.invoke(app, list(args))


def test_simulate_writes_tidy_csv_plot_and_events(tmp_path):
    out, plot = tmp_path / "traj.csv", tmp_path / "traj.png"
    result = _run("simulate", "--genotype", "SOD1", "--species", "human", "--therapy",
                  "riluzole:0,edaravone:400", "--days", "2500", "--points", "101",
                  "--out", str(out), "--plot", str(plot))
    assert result.exit_code == 0, result.output
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["time", "observable", "value"]
    assert len(rows) == 101 * len(alsjax.OBSERVABLE_NAMES)
    assert {r["observable"] for r in rows} == set(alsjax.OBSERVABLE_NAMES)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The figure marks each drug's start: its legend names them (SVG text kept as text).
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = tmp_path / "traj.svg"
        assert _run("simulate", "--genotype", "SOD1", "--therapy", "riluzole:0,edaravone:400",
                    "--days", "2500", "--points", "101", "--out", str(out),
                    "--plot", str(svg)).exit_code == 0
    text = svg.read_text()
    assert "riluzole from day 0" in text and "edaravone from day 400" in text

    # The CSV holds the library's numbers, and the printed events are the library's events.
    therapy = alsjax.parse_therapy("riluzole:0,edaravone:400")
    sol = alsjax.simulate(alsjax.default_params("SOD1"), np.linspace(0, 2500, 101), therapy)
    alsfrs = np.array([float(r["value"]) for r in rows if r["observable"] == "alsfrs_r"])
    # the CLI solves under jit: equal up to round-off, far inside the solver's tolerance
    np.testing.assert_allclose(alsfrs, sol.observables["alsfrs_r"], rtol=0, atol=1e-5)
    times = np.array([float(r["time"]) for r in rows if r["observable"] == "nfl"])
    np.testing.assert_allclose(times, np.linspace(0, 2500, 101), rtol=1e-9)
    printed = dict(re.findall(r"│ (onset|death|end_stage)\s+│ ([0-9.]+)", result.output))
    assert set(printed) == set(alsjax.EVENT_NAMES), result.output
    for name, day in printed.items():
        assert float(day) == pytest.approx(float(sol.events[name]), abs=0.051)


def test_set_changes_a_parameter_from_its_preset(tmp_path):
    """`--set respiratory_vulnerability=0.5` (about half the preset's): the library's
    numbers at that value (FVC in the CSV, the printed death day), and death later than at
    the preset. The second option gives motor_reserve its preset value with spaces around
    "=", which are allowed."""
    out = tmp_path / "traj.csv"
    reserve = float(alsjax.physical(alsjax.default_params())["motor_reserve"])
    result = _run("simulate", "--days", "2500", "--points", "101", "--out", str(out),
                  "--set", "respiratory_vulnerability=0.5", "--set",
                  f"motor_reserve = {reserve!r}")
    assert result.exit_code == 0, result.output
    p = alsjax.default_params().replace(respiratory_vulnerability=0.5)
    ts = np.linspace(0, 2500, 101)
    sol, preset = alsjax.simulate(p, ts), alsjax.simulate(alsjax.default_params(), ts)
    with out.open() as f:
        fvc = np.array([float(r["value"]) for r in csv.DictReader(f) if r["observable"] == "fvc"])
    np.testing.assert_allclose(fvc, sol.observables["fvc"], rtol=0, atol=1e-5)
    death = float(re.search(r"│ death\s+│ ([0-9.]+)", result.output).group(1))
    assert death == pytest.approx(float(sol.events["death"]), abs=0.051)
    assert death > float(preset.events["death"]) + 90


def test_simulate_mouse_defaults_to_sod1_and_200_days(tmp_path):
    out = tmp_path / "mouse.csv"
    result = _run("simulate", "--species", "mouse", "--points", "101", "--out", str(out))
    assert result.exit_code == 0, result.output
    with out.open() as f:
        times = sorted({float(r["time"]) for r in csv.DictReader(f)})
    assert times[0] == 0.0 and times[-1] == 200.0
    assert "day of age" in result.output and "end_stage" in result.output


@pytest.mark.parametrize(
    "args, field",
    [
        (["--genotype", "SOD2"], "--genotype"),
        (["--species", "rat"], "--species"),
        (["--species", "mouse", "--genotype", "FUS"], "mouse"),
        (["--therapy", "aspirin:0"], "--therapy"),
        (["--therapy", "riluzole:soon"], "--therapy"),
        (["--therapy", "riluzole:-3"], "--therapy"),
        (["--therapy", "tofersen:100"], "--therapy"),  # sporadic carries no mutant SOD1
        (["--genotype", "C9orf72", "--therapy", "riluzole:0,tofersen:0"], "tofersen"),
        (["--days", "-10"], "--days"),
        (["--days", "nan"], "--days"),
        (["--points", "1"], "--points"),
        (["--plot", "figure.gif"], "--plot"),
        (["--set", "respiratory_vulnerabilty=0.5"], "did you mean 'respiratory_vulnerability'"),
        (["--set", "respiratory_vulnerability"], "expected NAME=VALUE"),
        (["--set", "respiratory_vulnerability=half"], "--set respiratory_vulnerability"),
        (["--set", "apoptotic_death_rate=-0.01"], "--set apoptotic_death_rate must be > 0"),
        (["--set", "death_threshold=1.5"], "--set death_threshold"),
        (["--set", "nfl_release=inf"], "--set nfl_release must be finite"),
        (["--set", "riluzole_limb_fraction=1.5"],
         "--set riluzole_limb_fraction must be in [0, 1], got 1.5"),
        (["--set", "riluzole_limb_fraction=-0.1"], "riluzole_limb_fraction must be in [0, 1]"),
        (["--set", "motor_reserve=0.5", "--set", "motor_reserve=0.6"], "given twice"),
        (["--therapy", "riluzole:0,riluzole:100"], "--therapy: drug 'riluzole' is named "
         "twice"),
        (["--draws", "-3"], "--draws: must be a positive number"),
        (["--draws", "3", "--seed", "-1"], "--seed: must be >= 0, got -1"),
        (["--draws", "30000"], "--draws 30000 x --points 101"),
    ],
)
def test_simulate_bad_input_is_one_line_and_writes_nothing(tmp_path, args, field):
    out = tmp_path / "traj.csv"
    result = _run("simulate", "--points", "101", *args, "--out", str(out))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert field in result.output
    if args[0] not in ("--genotype", "--species") or field == "mouse":  # ours, not click's
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert lines == [lines[0]] and lines[0].startswith("error: "), result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_draws_from_the_plausible_ranges(tmp_path):
    """`--draws 12 --seed 4`: the courses and the per-draw table are the library's own
    draws (`prior("sporadic").sample` with the same key, `--set` holding motor_reserve at
    0.5 in each), each solved alone by `simulate` for the reference: the same ALSFRS-R to
    1e-3 points and event days to 0.05 day up to death, 0.5 after it (the batch and the
    single solver take their own steps at the same tolerances). The same seed writes the
    same bytes; another seed, other draws."""
    import jax
    import jax.numpy as jnp
    import pandas as pd

    out, plot = tmp_path / "e.csv", tmp_path / "e.png"
    args = ["simulate", "--draws", "12", "--seed", "4", "--points", "41", "--days", "3000",
            "--set", "motor_reserve=0.5", "--out", str(out), "--plot", str(plot)]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    courses, table = pd.read_csv(out), pd.read_csv(tmp_path / "e_draws.csv")
    assert list(courses.columns) == ["draw", "time", "observable", "value"]
    assert len(courses) == 12 * 41 * len(alsjax.OBSERVABLE_NAMES)
    assert len(table) == 12 and table["success"].all()
    assert "motor_reserve" not in table and "misfolding_rate" in table  # what varies
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    params = alsjax.prior("sporadic").sample(jax.random.key(4), 12)
    params = params.replace(motor_reserve=jnp.full(12, 0.5))
    for k in (0, 7):
        one = jax.tree.map(lambda a, k=k: a[k], params)
        sol = alsjax.simulate(one, np.linspace(0.0, 3000.0, 41))
        rows = courses[(courses["draw"] == k + 1) & (courses["observable"] == "alsfrs_r")]
        np.testing.assert_allclose(rows["value"], sol.observables["alsfrs_r"], rtol=0,
                                   atol=1e-3)
        for event in alsjax.EVENT_NAMES:
            day = float(sol.events[event])
            got = table[event].iat[k]
            # After death the course runs on, and function crosses its level slowly, so
            # the two solvers' steps move such a day more: 0.5 day there.
            tol = 0.05 if day <= float(sol.events["death"]) else 0.5
            assert (np.isnan(got) if day == np.inf else abs(got - day) < tol), (event, k)
        assert table["misfolding_rate"].iat[k] == pytest.approx(
            float(alsjax.physical(one)["misfolding_rate"]), rel=1e-9)
    first = out.read_bytes()
    assert _run(*args).exit_code == 0 and out.read_bytes() == first
    other = _run(*[a if a != "4" else "5" for a in args])
    assert other.exit_code == 0 and out.read_bytes() != first


def test_draws_on_their_own_onset(tmp_path):
    """`--draws --align onset`: each course starts at its draw's own onset, where ALSFRS-R
    is 48 x onset_threshold by the onset's definition (closed form, to 0.01 point), and
    follows `simulate` of that draw from that day, with riluzole from 30 days after that
    onset (`--therapy riluzole:30` on the onset's clock); the table keeps the onset's day
    from the cascade's start and counts the events from onset."""
    import jax
    import pandas as pd

    out = tmp_path / "o.csv"
    # 12 draws of 41 points, as the test above: its batch solve's program, compiled once.
    result = _run("simulate", "--draws", "12", "--seed", "2", "--align", "onset", "--days",
                  "900", "--points", "41", "--therapy", "riluzole:30", "--out", str(out))
    assert result.exit_code == 0, result.output
    courses, table = pd.read_csv(out), pd.read_csv(tmp_path / "o_draws.csv")
    assert len(table) == 12 and np.all(np.abs(table["onset"]) < 0.05)
    assert np.all(table["onset_cascade_day"] > 0)
    score = courses[courses["observable"] == "alsfrs_r"].pivot(index="draw", columns="time",
                                                               values="value")
    np.testing.assert_allclose(score.iloc[:, 0], 48 * table["onset_threshold"], atol=0.01)
    np.testing.assert_allclose(score.columns, np.linspace(0.0, 900.0, 41), rtol=1e-9)
    draw = jax.tree.map(lambda a: a[3], alsjax.prior("sporadic").sample(jax.random.key(2), 12))
    start = table["onset_cascade_day"].iat[3]
    sol = alsjax.simulate(draw, start + np.linspace(0.0, 900.0, 41),
                          alsjax.parse_therapy(f"riluzole:{start + 30.0}"))
    np.testing.assert_allclose(score.iloc[3], sol.observables["alsfrs_r"], atol=1e-3)
    # riluzole acts on the respiratory pool: FVC tells its start day
    fvc = courses[(courses["observable"] == "fvc") & (courses["draw"] == 4)]["value"]
    np.testing.assert_allclose(fvc, sol.observables["fvc"], atol=1e-3)


def test_one_course_on_its_onset(tmp_path):
    """`--align onset` for the preset's course: the CSV's day 0 is its onset, where
    ALSFRS-R is 48 x onset_threshold (closed form), the course is `simulate` from that day
    with riluzole 20 days after it (FVC shows the start), and the printed onset is day 0."""
    out = tmp_path / "o.csv"
    result = _run("simulate", "--align", "onset", "--days", "600", "--points", "31",
                  "--therapy", "riluzole:20", "--out", str(out))
    assert result.exit_code == 0, result.output
    with out.open() as f:
        rows = list(csv.DictReader(f))
    p = alsjax.default_params()
    onset = float(alsjax.simulate(p, np.array([0.0, 7305.0])).events["onset"])
    sol = alsjax.simulate(p, onset + np.linspace(0.0, 600.0, 31),
                          alsjax.parse_therapy(f"riluzole:{onset + 20.0}"))
    for name in ("alsfrs_r", "fvc"):
        got = np.array([float(r["value"]) for r in rows if r["observable"] == name])
        np.testing.assert_allclose(got, sol.observables[name], rtol=0, atol=1e-5)
    first = float(next(r["value"] for r in rows if r["observable"] == "alsfrs_r"))
    threshold = float(alsjax.physical(p)["onset_threshold"])
    assert first == pytest.approx(48 * threshold, abs=0.01)
    assert re.search(r"│ onset\s+│ 0\.0 ", result.output), result.output


def test_simulate_into_a_folder_is_refused(tmp_path):
    result = _run("simulate", "--out", str(tmp_path), "--points", "101")
    assert result.exit_code == 2 and result.output.startswith("error: --out")


def test_params_csv_lists_every_parameter_with_its_default():
    result = _run("params", "--genotype", "SOD1", "--species", "mouse", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["name"] for r in rows] == list(alsjax.PARAMETER_NAMES)
    assert list(rows[0]) == ["name", "unit", "transform", "default", "meaning"]
    values = alsjax.physical(alsjax.default_params("SOD1", "mouse"))
    for r in rows:
        assert float(r["default"]) == pytest.approx(float(values[r["name"]]), rel=1e-5)
        assert r["unit"] and r["meaning"] and r["transform"] in ("log", "logit", "none", "fraction")


def test_params_ranges():
    """`--ranges` adds each parameter's 95 % plausible range and its source: the quantiles
    of the prior's own distribution (scipy's log-normal for a log-stored rate, the
    logistic of a normal for a logit-stored fraction), empty ends for a fixed one."""
    from scipy import special, stats

    result = _run("params", "--ranges", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(result.output))}
    assert list(next(iter(rows.values()))) == ["name", "unit", "transform", "default",
                                                "low_95", "high_95", "source", "meaning"]
    p = alsjax.prior("sporadic")
    for name, ppf in (("nfl_release", lambda q, m, s: stats.lognorm.ppf(q, s, scale=np.exp(m))),
                      ("onset_threshold", lambda q, m, s: special.expit(stats.norm.ppf(q, m, s)))):
        loc, sd = float(getattr(p.loc, name)), float(getattr(p.scale, name))
        assert float(rows[name]["low_95"]) == pytest.approx(ppf(0.025, loc, sd), rel=1e-3)
        assert float(rows[name]["high_95"]) == pytest.approx(ppf(0.975, loc, sd), rel=1e-3)
    assert rows["nfl_release"]["source"].startswith("Benatar 2018")
    assert rows["mutant_sod1"]["low_95"] == "" and "lacks this drive" in rows["mutant_sod1"][
        "source"]
    assert rows["time_scale"]["source"] == "fixed (definition)"


def test_params_table_and_errors():
    result = _run("params")
    assert result.exit_code == 0 and "glia_toxicity" in result.output
    result = _run("params", "--format", "json")
    assert result.exit_code == 2 and "--format" in result.output
    result = _run("params", "--species", "mouse", "--genotype", "TARDBP")
    assert result.exit_code == 2 and result.output.startswith("error: ")
