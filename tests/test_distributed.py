"""`alsjax fit --per-subject --distributed`: two real processes on localhost under
`jax.distributed` (process 0 also runs the coordinator), each with 2 host devices, so one
mesh of 4 devices over 2 processes and CPU collectives over gloo. They give the same
estimates as one process, only process 0 writes, and a missing or malformed environment
variable is one line.

The two processes compile their program side by side with the one-process reference
(in this process), so the test costs about one compilation of wall time per core.
"""

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import alsjax
from alsjax._persubject import run_per_subject
from alsjax.cli import app

ROOT = Path(__file__).resolve().parent.parent
N = 6  # subjects: 8 slots on 4 devices, so padding problems are exercised too
TIMEOUT = 600  # seconds for a worker: a hang fails the test instead of blocking it
# Everything JAX would read to find a managed cluster, or the processes of a run.
_CLUSTER = ("JAX_", "SLURM_", "OMPI_", "PMI_", "PMIX_")
# Gloo's "[Gloo] Rank 1 is connected to 3 peer ranks. Expected number of connected peer
# ranks is : 3", in its two pieces: its threads may print one's prefix before another's.
_GLOO_NOTE = re.compile(r"\[Gloo\] Rank |\d+ is connected to \d+ peer ranks\. Expected "
                        r"number of connected peer ranks is : \d+")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("distributed")
    alsjax.write_synthetic(alsjax.synthesize("population", seed=1, n=N), folder)
    path = folder / "r.toml"
    path.write_text(textwrap.dedent(f"""\
        data = "{folder / 'population.csv'}"
        estimate = ["nfl_release"]
        starts = 2
        max_steps = 20
        [bounds]
        nfl_release = [300.0, 15000.0]
        """))
    return path


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLUSTER)}
    return env | dict(PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                      ALSJAX_CACHE_DIR="off") | extra


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(recipe: Path, tmp_path: Path, *options: str, meanwhile=lambda: None,
                   mode: tuple[str, ...] = ("--per-subject",)):
    """`alsjax fit RECIPE --per-subject --distributed` (or another `mode`) as processes 0
    and 1 on localhost,
    2 host devices each, process i writing to tmp_path/out{i}; `meanwhile()` runs here
    while they do. Returns ([(exit code, stdout, stderr)] per process, meanwhile's value);
    on any failure or timeout the children are killed."""
    port = _free_port()
    workers = []
    try:
        for rank in (0, 1):
            env = _clean_env(JAX_PLATFORMS="cpu", COLUMNS="200",
                             XLA_FLAGS="--xla_force_host_platform_device_count=2",
                             JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                             JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(rank))
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "alsjax", "fit", str(recipe), *mode,
                 "--distributed", "--out", str(tmp_path / f"out{rank}"), *options],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        value = meanwhile()
        done = [w.communicate(timeout=TIMEOUT) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
    return [(w.returncode, *d) for w, d in zip(workers, done, strict=True)], value


def test_two_processes_give_the_same_estimates_as_one(recipe, tmp_path):
    # Meanwhile the reference: one process, one device.
    done, one = _two_processes(recipe, tmp_path,
                               meanwhile=lambda: run_per_subject(recipe, progress=False))
    for code, _, stderr in done:
        assert code == 0, stderr[-3000:]
    assert one.devices == 1 and one.processes == 1
    # Process 0 wrote the outputs and printed the table; process 1 neither.
    out = tmp_path / "out0"
    assert {p.name for p in out.iterdir()} == {"subjects.csv", "summary.json", "subjects.png"}
    assert not (tmp_path / "out1").exists()
    printed = [stdout for _, stdout, _ in done]
    assert "4 device(s) over 2 processes" in " ".join(printed[0].split())  # a wrapped title
    # Process 1: nothing but gloo's own notes of its connections.
    assert _GLOO_NOTE.sub("", printed[1]).strip() == "", printed[1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["devices"] == 4 and summary["processes"] == 2
    table = pd.read_csv(out / "subjects.csv")
    est = table.pivot(index="subject", columns="parameter", values="estimate")
    got = est.loc[list(one.subjects), list(one.names)].to_numpy()
    assert np.all(np.isfinite(one.estimates))
    np.testing.assert_allclose(got, one.estimates, rtol=1e-6)


POPULATION = ("--population", "--random", "nfl_release", "--max-steps", "3")


def test_two_processes_fit_a_population_as_one(recipe, tmp_path):
    """The population fit's subjects split over 4 devices of 2 processes (padded with
    NaN rows, which `device_put`'s equality check across processes would refuse): the
    same estimates, standard errors, -2 log L and empirical Bayes estimates as one
    device. (This is also the suite's check that a population fit over several devices
    is the one-device fit: a 4-device single-process run compiles the same program.)"""
    data = recipe.parent / "population.csv"

    def one_process():
        return alsjax.fit_population(alsjax.read_measurements(data), ["nfl_release"],
                                     max_steps=3, devices=1)

    done, one = _two_processes(data, tmp_path, meanwhile=one_process, mode=POPULATION)
    for code, _, stderr in done:
        assert code == 0, stderr[-3000:]
    assert not (tmp_path / "out1").exists()
    out = tmp_path / "out0"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["devices"] == 4
    assert summary["minus2_log_likelihood"] == pytest.approx(one.minus2ll, rel=1e-6)
    table = pd.read_csv(out / "parameters.csv").set_index("parameter")
    assert all(np.isfinite(one.estimates[n]) for n in one.names)
    # The SEs come from central differences (h = 1e-3) of the gradient, which magnify the
    # rounding of sums taken in another order over devices: 1.6e-6 seen, so 1e-5.
    for column, want, rtol in (("estimate", one.estimates, 1e-6),
                               ("std_error", one.std_errors, 1e-5)):
        np.testing.assert_allclose([table.loc[n, column] for n in one.names],
                                   [want[n] for n in one.names], rtol=rtol)
    # Each subject's empirical Bayes estimate, gathered from the devices that held it.
    subjects = pd.read_csv(out / "subjects.csv").set_index("subject")
    got = subjects.loc[list(one.subjects), "estimate"].to_numpy()
    np.testing.assert_allclose(got, one.individual["nfl_release"], rtol=1e-6)


def test_devices_must_reach_every_process(recipe, tmp_path):
    """The first 2 of the 4 global devices are process 0's: process 1 would hold no part
    of the mesh. Both processes say so in one line, before any work, and write nothing."""
    done, _ = _two_processes(recipe, tmp_path, "--devices", "2")
    for code, _, stderr in done:
        assert code == 2, stderr[-3000:]
        assert stderr.splitlines()[-1] == (
            f"error: {recipe}: devices: 2 of 4 leave a process without a device; with 2 "
            "processes use at least 3")
    assert not (tmp_path / "out0").exists() and not (tmp_path / "out1").exists()


def test_a_refused_output_folder_stops_every_process(recipe, tmp_path):
    """Process 0 alone checks its --out; process 1 stops with it instead of waiting in
    the fit for a process that has gone."""
    (tmp_path / "out0").mkdir()
    (tmp_path / "out0" / "notes.txt").write_text("mine")
    done, _ = _two_processes(recipe, tmp_path)
    assert [code for code, _, _ in done] == [2, 2], done[1][2][-3000:]
    assert done[0][2].splitlines()[-1].startswith(
        f"error: --out {tmp_path / 'out0'}: the folder holds files that are not an alsjax run")
    assert done[1][2].splitlines()[-1] == (
        "error: --distributed: process 0 stopped before the fit (see its error)")
    assert [p.name for p in (tmp_path / "out0").iterdir()] == ["notes.txt"]
    assert not (tmp_path / "out1").exists()


def test_import_starts_no_jax_backend():
    """`--distributed` must join before JAX starts, so `import alsjax` (and the CLI's
    module) may neither start a backend nor change a JAX setting."""
    check = ("import jax, alsjax, alsjax.cli\n"
             "from jax._src import xla_bridge\n"
             "print(xla_bridge.backends_are_initialized(), jax.config.jax_enable_x64,"
             " jax.distributed.is_initialized())")
    done = subprocess.run([sys.executable, "-c", check], env=_clean_env(), capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "False", "False"]


def test_missing_variable_is_one_line(recipe, tmp_path):
    """A fresh process (JAX must not have started), no cluster to detect it from."""
    env = _clean_env(JAX_NUM_PROCESSES="2", JAX_PROCESS_ID="0")
    done = subprocess.run([sys.executable, "-m", "alsjax", "fit", str(recipe), "--per-subject",
                           "--distributed", "--out", str(tmp_path / "o")],
                          env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --distributed: environment variable "
                                  "JAX_COORDINATOR_ADDRESS is not set;"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("name", "value", "says"), [
    ("JAX_NUM_PROCESSES", "two", "JAX_NUM_PROCESSES must be a whole number >= 1, got 'two'"),
    ("JAX_PROCESS_ID", "-1", "JAX_PROCESS_ID must be a whole number >= 0, got '-1'"),
    ("JAX_PROCESS_ID", "2", "JAX_PROCESS_ID must be below JAX_NUM_PROCESSES (2), got 2"),
])
def test_malformed_variable_is_one_line(recipe, tmp_path, monkeypatch, name, value, says):
    # Checked before JAX is asked, so this process's JAX (already started) is untouched.
    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
    monkeypatch.setenv("JAX_PROCESS_ID", "0")
    monkeypatch.setenv(name, value)
    res = CliRunner().invoke(app, ["fit", str(recipe), "--per-subject", "--distributed",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert res.stderr == f"error: --distributed: {says}\n"


def test_distributed_needs_a_sharded_fit(recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")
    res = CliRunner().invoke(app, ["fit", str(recipe), "--distributed", "--out",
                                   str(tmp_path / "o")])
    assert res.exit_code == 2
    assert res.stderr == "error: --distributed needs --per-subject or --population\n"
