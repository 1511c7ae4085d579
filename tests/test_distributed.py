"""`alsjax fit --distributed`: what two localhost processes under `jax.distributed` must
refuse (too few devices, a refused output folder, a missing or malformed environment
variable), each in one line, and that importing alsjax starts no JAX backend.

That two processes give the estimates of one is tested beside the one-process fits it
reuses: tests/test_persubject.py (per subject) and tests/test_population.py (population).
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import alsjax
from alsjax.cli import app

from _two_processes import TIMEOUT, clean_env, two_processes

N = 6  # subjects


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


def test_devices_must_reach_every_process(recipe, tmp_path):
    """The first 2 of the 4 global devices are process 0's: process 1 would hold no part
    of the mesh. Both processes say so in one line, before any work, and write nothing."""
    done = two_processes(recipe, tmp_path, "--devices", "2")
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
    done = two_processes(recipe, tmp_path)
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
    done = subprocess.run([sys.executable, "-c", check], env=clean_env(), capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "False", "False"]


def test_missing_variable_is_one_line(recipe, tmp_path):
    """A fresh process (JAX must not have started), no cluster to detect it from."""
    env = clean_env(JAX_NUM_PROCESSES="2", JAX_PROCESS_ID="0")
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
