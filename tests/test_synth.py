"""Synthetic data: reproducible byte for byte, and the numbers in the files are the model's
(recomputed here subject by subject with `alsjax.simulate`) plus the stated noise."""

import json
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import alsjax
from alsjax.cli import app

FILES = ("{}.csv", "{}_truth.json", "{}_truth.csv")
N_HUMAN, N_MOUSE, SEED = 12, 6, 3


@pytest.fixture(scope="module")
def human(tmp_path_factory):
    out = tmp_path_factory.mktemp("human")
    alsjax.write_synthetic(alsjax.synthesize("human_cohort", seed=SEED, n=N_HUMAN), out)
    return out


@pytest.fixture(scope="module")
def mouse(tmp_path_factory):
    out = tmp_path_factory.mktemp("mouse")
    alsjax.write_synthetic(alsjax.synthesize("mouse_sod1", seed=SEED, n=N_MOUSE), out)
    return out


@pytest.fixture(scope="module")
def solve():
    """simulate, jitted once for a fixed number of output times (7)."""
    return jax.jit(alsjax.simulate)


def _padded(ts, size=7):
    ts = np.sort(np.unique(ts))
    assert ts.size <= size
    return np.concatenate([ts, np.full(size - ts.size, ts[-1])])


def _at(sol, ts, observable, times):
    values = np.asarray(sol.observables[observable])
    return np.array([values[np.flatnonzero(ts == t)[0]] for t in times])


def _check_noise(residuals, sd):
    """Mean ~0 (within 4 standard errors) and SD within 30% of the stated noise SD."""
    residuals = np.asarray(residuals)
    assert residuals.size >= 30
    assert abs(residuals.mean()) < 4 * sd / np.sqrt(residuals.size)
    assert abs(residuals.std(ddof=1) / sd - 1) < 0.3


def test_same_seed_same_bytes(human, tmp_path):
    alsjax.write_synthetic(alsjax.synthesize("human_cohort", seed=SEED, n=N_HUMAN), tmp_path)
    for f in FILES:
        assert (tmp_path / f.format("human_cohort")).read_bytes() == (
            human / f.format("human_cohort")).read_bytes()
    other = tmp_path / "other"
    alsjax.write_synthetic(alsjax.synthesize("human_cohort", seed=SEED + 1, n=N_HUMAN), other)
    assert (other / "human_cohort.csv").read_bytes() != (human / "human_cohort.csv").read_bytes()


def test_human_cohort_is_the_model_plus_stated_noise(human, solve):
    df = alsjax.read_measurements(human / "human_cohort.csv")
    truth = json.loads((human / "human_cohort_truth.json").read_text())
    assert sum(truth["genotype_mix"].values()) == N_HUMAN == df["subject"].nunique()
    res_a, res_n = [], []
    for s in truth["subjects"]:
        rows = df[df["subject"] == s["subject"]]
        p = alsjax.default_params(s["genotype"]).replace(**s["parameters"])
        onset = s["onset_day"]
        # The onset recorded in the truth is the model's onset (time 0 of the data clock),
        # to well within the solver's rtol (1e-6): the cohort was solved as one batch, this
        # alone, so rounding steers the step sizes apart (measured: up to 1.8e-8 relative,
        # on a C9orf72 subject's 4-year course since revision 10).
        t_onset = float(solve(p, np.linspace(0.0, 10_000.0, 7)).events["onset"])
        np.testing.assert_allclose(t_onset, onset, rtol=1e-7)
        therapy = alsjax.parse_therapy(s["therapy"]) if s["therapy"] else None
        assert rows["therapy"].iat[0] == ("riluzole:0" if s["therapy"] else "")
        meas = rows[rows["kind"] == "measurement"]
        ts = _padded(onset + meas["time"].to_numpy())
        sol = solve(p, ts, therapy)
        a, n = meas[meas["observable"] == "alsfrs_r"], meas[meas["observable"] == "nfl"]
        res_a += list(a["value"] - _at(sol, ts, "alsfrs_r", onset + a["time"].to_numpy()))
        res_n += list(np.log(n["value"] / _at(sol, ts, "nfl", onset + n["time"].to_numpy())))
        death = rows[rows["observable"] == "death"]
        assert len(death) == 1
        if death["value"].iat[0] == 1:
            np.testing.assert_allclose(death["time"].iat[0] + onset, s["death_day"], rtol=1e-8)
            assert meas["time"].max() <= death["time"].iat[0]
        else:
            assert s["death_day"] is None and death["time"].iat[0] == meas["time"].max()
            assert not np.isfinite(float(sol.events["death"]))
    _check_noise(res_a, truth["noise"]["alsfrs_r"]["sd"])
    _check_noise(res_n, truth["noise"]["nfl"]["sd_log"])


def test_mouse_is_the_model_plus_stated_noise(mouse, solve):
    df = alsjax.read_measurements(mouse / "mouse_sod1.csv")
    truth = json.loads((mouse / "mouse_sod1_truth.json").read_text())
    assert set(df["species"]) == {"mouse"} and set(df["genotype"]) == {"SOD1"}
    p = alsjax.default_params("SOD1", "mouse")
    grid = np.linspace(0.0, 140.0, 7)
    end_stage = float(solve(p, grid).events["end_stage"])
    res = []
    for s in truth["subjects"]:
        rows = df[df["subject"] == s["subject"]]
        grip = rows[rows["observable"] == "grip_strength"]
        times = grip["time"].to_numpy()
        for chunk in np.array_split(times, int(np.ceil(times.size / 7))):
            ts = _padded(chunk)
            res += list(grip["value"].to_numpy()[np.isin(times, chunk)]
                        - _at(solve(p, ts), ts, "grip_strength", chunk))
        event = rows[rows["observable"] == "end_stage"]
        if event["value"].iat[0] == 1:
            np.testing.assert_allclose(event["time"].iat[0], end_stage, rtol=1e-8)
        assert (rows["observable"] == "lmn").sum() == (s["terminal_day"] is not None)
    assert (df.loc[df["observable"] == "end_stage", "value"] == 1).any()
    _check_noise(res, truth["noise"]["grip_strength"]["sd"])
    # The truth table holds every parameter at the preset (no between-animal spread).
    table = dict(line.split(",") for line in
                 (mouse / "mouse_sod1_truth.csv").read_text().splitlines()[1:])
    assert set(table) == set(alsjax.PARAMETER_NAMES)
    phys = alsjax.physical(p)
    for k, v in table.items():
        np.testing.assert_allclose(float(v), float(phys[k]), rtol=1e-9)


def _cli_args(*args):
    """`alsjax synth ...`"""
    return ["synth", *args]


def test_cli_writes_the_same_bytes(human, tmp_path, monkeypatch):
    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, _cli_args("human_cohort", "--n", str(N_HUMAN), "--seed",
                                               str(SEED), "--out", str(out)))
    assert result.exit_code == 0, result.output
    for f in FILES:
        assert (out / f.format("human_cohort")).read_bytes() == (
            human / f.format("human_cohort")).read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f.format("human_cohort") for f in FILES)  # no temporary files left


def test_cli_keeps_a_dataset_made_with_other_settings(tmp_path, monkeypatch):
    """`alsjax synth` into a folder that holds the dataset made with another seed (or size,
    or preset version) refuses in one line and writes nothing, unless `--force`; the same
    settings regenerate it (the same bytes)."""
    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")
    out = tmp_path / "out"

    def run(*args):
        return CliRunner().invoke(app, _cli_args("small_human", "--out", str(out), *args))

    assert run().exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert run().exit_code == 0  # same settings: allowed
    refused = run("--seed", "1")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    assert "small_human_truth.json: made with seed 0; this run (seed 1)" in refused.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert run("--seed", "1", "--force").exit_code == 0
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after.keys() == before.keys() and after["small_human.csv"] != before["small_human.csv"]


@pytest.mark.parametrize(
    "args, fragment",
    [(("human_cohort", "--n", "0"), "number of subjects must be >= 1"),
     (("small_human", "human_cohrt"), "unknown dataset 'human_cohrt' (did you mean "
      "'human_cohort'?)"),
     (("small_human", "--seed", "-1"), "--seed: must be >= 0, got -1")],
)
def test_cli_bad_argument(tmp_path, monkeypatch, args, fragment):
    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, _cli_args(*args, "--out", str(out)))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert fragment in result.stderr
    assert not out.exists()  # nothing written, not even the folder


@pytest.mark.slow
def test_shipped_datasets_regenerate_byte_for_byte(tmp_path):
    shipped = Path(__file__).parents[1] / "data" / "synthetic"
    from alsjax._synth import DATASETS

    for name in DATASETS:
        # Each dataset at the preset version it was made with (its truth file says which).
        version = json.loads((shipped / f"{name}_truth.json").read_text())["preset_version"]
        alsjax.write_synthetic(alsjax.synthesize(name, seed=0, preset_version=version),
                               tmp_path)
        extra = ("{}_truth_subjects.csv",) if name in ("population", "prior_cohort") else ()
        for f in FILES + extra:
            assert (tmp_path / f.format(name)).read_bytes() == (
                shipped / f.format(name)).read_bytes()
        alsjax.read_measurements(shipped / f"{name}.csv")


def test_population_with_three_random_effects():
    """`population(effects=...)`: one random effect per named parameter with the stated
    SDs and one correlation between every pair in the truth; each subject's value is the
    population value x exp(covariate + random effect); a mismatched sd_log is one line."""
    from alsjax._synth import population

    effects = ("apoptotic_death_rate", "nfl_release", "motor_reserve")
    s = population(6, seed=1, effects=effects, sd_log=(0.3, 0.4, 0.2))
    re = s.truth["random_effects"]
    assert re["parameters"] == list(effects)
    np.testing.assert_allclose(re["covariance"], [[0.09, 0.06, 0.03], [0.06, 0.16, 0.04],
                                                  [0.03, 0.04, 0.04]], rtol=1e-12)
    cov = s.truth["covariates"]["site_of_onset"]
    for subj in s.truth["subjects"]:
        for k in effects:
            beta = cov["effect_log"] if (k == cov["parameter"]
                                         and subj["site_of_onset"] == "bulbar") else 0.0
            want = s.truth["varied"][k]["population"]["sporadic"] * np.exp(
                beta + subj["random_effects"][k])
            np.testing.assert_allclose(subj["parameters"][k], want, rtol=1e-8)
    with pytest.raises(alsjax.ALSJaxError, match="one sd_log per effect") as e:
        population(6, effects=effects, sd_log=(0.3, 0.4))
    assert "\n" not in str(e.value)


def test_prior_cohort_is_drawn_from_the_prior_and_is_the_model_plus_noise(tmp_path, solve):
    """`prior_cohort`: each subject's parameters are one of the first draws of
    `alsjax.prior(genotype)` under the key its truth names, its recorded onset is the
    model's, and the measurements are the model's course from that onset plus the stated
    noise (recomputed here with `alsjax.simulate`)."""
    from alsjax._synth import prior_cohort

    mix = {"SOD1": 0.25, "FUS": 0.25}
    alsjax.write_synthetic(prior_cohort(12, seed=SEED, genotype_mix=mix), tmp_path)
    df = alsjax.read_measurements(tmp_path / "prior_cohort.csv")
    truth = json.loads((tmp_path / "prior_cohort_truth.json").read_text())
    table = pd.read_csv(tmp_path / "prior_cohort_truth_subjects.csv")
    assert truth["genotype_mix"] == {"sporadic": 6, "SOD1": 3, "C9orf72": 0, "TARDBP": 0,
                                     "FUS": 3}
    assert list(table["subject"]) == [s["subject"] for s in truth["subjects"]]
    varied = truth["prior"]["varied"]
    assert list(table.columns[4:]) == varied and "apoptotic_death_rate" in varied

    for g, drawn in truth["prior"]["drawn"].items():
        sample = alsjax.prior(g).sample(jax.random.fold_in(
            jax.random.key(SEED), alsjax.GENOTYPES.index(g)), 2 * drawn["subjects"])
        phys = alsjax.physical(sample)
        candidates = np.stack([np.asarray(phys[k]) for k in varied], axis=1)
        candidates = candidates[:drawn["candidates"]]
        mine = table.loc[table["genotype"] == g, varied].to_numpy()
        assert len(mine) == drawn["subjects"]
        match = [np.flatnonzero(np.all(np.isclose(candidates, row, rtol=1e-9, atol=0),
                                       axis=1)) for row in mine]
        assert all(m.size == 1 for m in match) and len({int(m[0]) for m in match}) == len(mine)

    res = {"alsfrs_r": [], "fvc": [], "nfl": []}
    for s, (_, row) in zip(truth["subjects"], table.iterrows(), strict=True):
        p = alsjax.default_params(s["genotype"]).replace(**{k: row[k] for k in varied})
        onset = s["onset_day"]
        np.testing.assert_allclose(float(solve(p, np.linspace(0.0, 7305.0, 7)).events["onset"]),
                                   onset, rtol=1e-8)
        rows = df[df["subject"] == s["subject"]]
        meas = rows[rows["kind"] == "measurement"]
        times = np.unique(meas["time"].to_numpy())
        assert times[0] == s["enrolment_day"] and len(times) == s["visits"]
        for chunk in np.array_split(times, int(np.ceil(times.size / 7))):
            ts = _padded(onset + chunk)
            sol = solve(p, ts)
            for name in res:
                m = meas[(meas["observable"] == name) & np.isin(meas["time"], chunk)]
                model = _at(sol, ts, name, onset + m["time"].to_numpy())
                if name == "alsfrs_r":  # 3 SDs inside the scale: clipping is unlikely
                    inside = (model > 4.5) & (model < 43.5)
                    m, model = m[inside], model[inside]
                res[name] += list(np.log(m["value"] / model) if name == "nfl"
                                  else m["value"] - model)
        death = rows[rows["observable"] == "death"]
        if death["value"].iat[0] == 1:
            np.testing.assert_allclose(death["time"].iat[0] + onset, s["death_day"], rtol=1e-8)
        else:
            assert s["death_day"] is None and np.isnan(row["death_day"])
    noise = truth["noise"]
    _check_noise(res["alsfrs_r"], noise["alsfrs_r"]["sd"])
    _check_noise(res["fvc"], noise["fvc"]["sd"])
    _check_noise(res["nfl"], noise["nfl"]["sd_log"])


def test_prior_cohort_refuses_a_bad_genotype_mix():
    from alsjax._synth import prior_cohort

    for mix in ({"SOD2": 0.1}, {"SOD1": 0.7, "FUS": 0.5}, {"FUS": -0.1}, {"FUS": float("nan")}):
        with pytest.raises(alsjax.ALSJaxError, match="genotype_mix needs shares") as e:
            prior_cohort(10, genotype_mix=mix)
        assert "\n" not in str(e.value)


def test_cli_genotype_mix_of_the_prior_cohort(tmp_path, monkeypatch):
    """`alsjax synth prior_cohort --genotype-mix SOD1=0.5`: half the subjects SOD1, the
    rest sporadic; the same seed and size with another mix would replace the files, so it
    is refused (one line, nothing written) as another seed is; and the option is refused
    for the other datasets and for a malformed mix."""
    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")
    out = tmp_path / "out"

    def run(*args):
        return CliRunner().invoke(app, _cli_args("prior_cohort", "--subjects", "4", "--out",
                                                 str(out), *args))

    assert run("--genotype-mix", "SOD1=0.5").exit_code == 0
    df = alsjax.read_measurements(out / "prior_cohort.csv")
    assert df.groupby("subject")["genotype"].first().value_counts().to_dict() == {
        "SOD1": 2, "sporadic": 2}
    before = (out / "prior_cohort.csv").read_bytes()
    refused = run()  # the default mix: 4 sporadic subjects
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert "made with genotype_mix {'sporadic': 2, 'SOD1': 2" in refused.stderr
    assert (out / "prior_cohort.csv").read_bytes() == before
    for args, words in ((("small_human", "--genotype-mix", "SOD1=1"), "applies to prior_cohort"),
                        (("prior_cohort", "--genotype-mix", "SOD1:1"), "expected GENOTYPE=SHARE"),
                        (("prior_cohort", "--genotype-mix", "SOD1=0.1,SOD1=0.2"), "named twice"),
                        (("prior_cohort", "--genotype-mix", "SOD2=0.1"), "genotype_mix needs")):
        bad = tmp_path / "bad"
        r = CliRunner().invoke(app, _cli_args(*args, "--out", str(bad)))
        assert r.exit_code == 2 and words in r.stderr and r.stderr.count("\n") == 1
        assert not bad.exists()
