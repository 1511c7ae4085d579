"""A run's outputs as one set: written beside the target and swapped in, an earlier alsjax
run replaced as a whole, any other folder refused without --force, a write error as one
line that leaves the old set intact, and Ctrl-C within 2 s that leaves it untouched."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import alsjax._io
from alsjax.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_persistent_cache(monkeypatch):
    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _beside(folder: Path) -> list[str]:
    """Anything a run left next to the target (temporary folders, probes)."""
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name)


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """An earlier run of the default fit (its bytes are the reference)."""
    out = tmp_path_factory.mktemp("earlier") / "run"
    r = runner.invoke(app, ["fit", "--quiet", "--out", str(out)],
                      env={"ALSJAX_CACHE_DIR": "off"})
    assert r.exit_code == 0, r.output
    return out


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_other_folder_is_refused_without_force(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    r = runner.invoke(app, ["fit", "--quiet", "--out", str(out)])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not an alsjax run (notes.txt)" in lines[0], r.stderr
    assert "--force" in lines[0]
    assert _snapshot(out) == {"notes.txt": b"my notes"} and _beside(out) == []


def test_force_and_rewrite_replace_the_folder_as_a_whole(tmp_path, earlier):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    r = runner.invoke(app, ["fit", "--quiet", "--force", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert set(_snapshot(out)) == set(_snapshot(earlier))  # notes.txt is gone
    # A second run over an alsjax run needs no --force, says so, and leaves one set.
    (out / "stale.csv").write_text("from an older version")
    r = runner.invoke(app, ["fit", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert f"replaced the earlier alsjax run in {out}/" in r.stdout
    assert set(_snapshot(out)) == set(_snapshot(earlier)) and _beside(out) == []


def test_write_error_mid_set_keeps_the_old_set(tmp_path, earlier, monkeypatch):
    """The disk fills on the third file: one line naming the file, the earlier set byte
    for byte, and no temporary folder left beside it."""
    out = _copy(earlier, tmp_path / "run")
    before = _snapshot(out)
    real, calls = alsjax._io._write_file, []

    def full_disk(path, content):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, content)

    monkeypatch.setattr(alsjax._io, "_write_file", full_disk)
    r = runner.invoke(app, ["fit", "--quiet", "--out", str(out)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"cannot write {out / calls[2]}: No space left on device" in lines[0]
    assert _snapshot(out) == before and _beside(out) == []


def test_crash_between_the_renames_keeps_a_complete_set(tmp_path, earlier):
    """A process killed after moving the old set aside and before moving the new one in
    leaves the old set complete beside the target; the next run puts it back first."""
    out = tmp_path / "run"
    aside = tmp_path / ".run.alsjax-old-999999999"  # a pid that is not running
    _copy(earlier, aside)
    staged = tmp_path / ".run.alsjax-new-999999999"
    staged.mkdir()
    (staged / "parameters.csv").write_text("half a set")
    assert alsjax._io.check_output_folder(out) == "alsjax"
    assert _snapshot(out) == _snapshot(earlier) and _beside(out) == []


@pytest.mark.parametrize("stage", ["compiling", "fitting:"])
def test_ctrl_c(tmp_path, earlier, stage):
    """A real `python -m alsjax fit` (Adam for 10^5 steps: long enough) gets SIGINT once
    its log says it is compiling (inside XLA, where Python itself cannot see a signal)
    or fitting: it exits with 130 within 2 s, says one line, and the earlier output
    folder is byte for byte what it was."""
    out = _copy(earlier, tmp_path / "run")
    before = _snapshot(out)
    env = dict(os.environ, ALSJAX_CACHE_DIR="off", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "alsjax", "fit", "--optimiser", "adam", "--max-steps",
         "100000", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=tmp_path)
    try:
        log = []
        for line in proc.stderr:  # progress lines (stderr is not a terminal)
            log.append(line)
            if line.startswith(f"alsjax: {stage}"):
                break
        assert log and log[-1].startswith(f"alsjax: {stage}"), log
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        waited = time.monotonic() - sent
        rest = [ln for ln in proc.stderr.read().splitlines() if not ln.startswith("alsjax:")]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 130, (proc.returncode, rest)
    assert waited < 2.0, waited
    assert len(rest) == 1 and rest[0].startswith("error: interrupted (Ctrl-C)"), rest
    assert _snapshot(out) == before and _beside(out) == []


def test_ctrl_c_while_exiting_leaves_quietly_with_the_commands_code():
    """A Ctrl-C that lands while the finished command runs the exit handlers (JAX's
    clean-up among them): the process ends at once with the command's code and no
    traceback. An exit handler here sends the SIGINT itself and would then wait 20 s."""
    script = textwrap.dedent("""
        import atexit, os, signal, time
        from alsjax.cli import _leave
        atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(20)))
        _leave(0, clean=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=15)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "KeyboardInterrupt" not in done.stderr, done.stderr


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path):
    """On Ctrl-C the command line deletes the temporary files of writes still open (the
    writer thread is abandoned and would never do it): a 500 MB `simulate --draws` file
    cut short left its hidden half behind. Here the deletion comes mid-write; the write
    then fails at its rename and the folder is as it was, with no temporary registered."""
    target = tmp_path / "courses.csv"
    with pytest.raises(FileNotFoundError), alsjax._io.atomic_open(target) as f:
        f.write("draw,time\n")
        [temp] = list(tmp_path.iterdir())
        assert temp.name.startswith(".courses.csv.") and str(temp) in alsjax._io._OPEN_TEMPS
        alsjax._io.remove_open_temps()
        assert list(tmp_path.iterdir()) == []
    assert list(tmp_path.iterdir()) == [] and not alsjax._io._OPEN_TEMPS


def test_peak_memory_reports_host_bytes_and_device_where_known():
    """The host figure is ru_maxrss in bytes (at least this process's numpy arrays); the
    device figure is None where the backend keeps no allocator statistics (CPU)."""
    import jax
    import numpy as np

    big = np.ones(8_000_000)  # 64 MB resident
    got = alsjax._io.peak_memory()
    assert isinstance(got["peak_host_memory_bytes"], int)
    assert got["peak_host_memory_bytes"] > big.nbytes
    stats = jax.local_devices()[0].memory_stats()
    if stats is None or "peak_bytes_in_use" not in stats:
        assert got["peak_device_memory_bytes"] is None
    else:
        assert got["peak_device_memory_bytes"] >= stats["peak_bytes_in_use"] > 0
