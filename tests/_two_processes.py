"""Shared by the multi-process tests: `alsjax fit ... --distributed` as two real processes
on localhost under `jax.distributed` (process 0 also runs the coordinator), each with 2
host devices, so one mesh of 4 devices over 2 processes and CPU collectives over gloo.

The tests that compare against one process live beside the fixture whose one-process
fit they reuse (test_persubject.py, test_population.py), so no second reference compiles.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # seconds for a worker: a hang fails the test instead of blocking it
# Everything JAX would read to find a managed cluster, or the processes of a run.
_CLUSTER = ("JAX_", "SLURM_", "OMPI_", "PMI_", "PMIX_")
# Gloo's note "[Gloo] Rank 1 is connected to 3 peer ranks. Expected number of connected
# peer ranks is : 3" comes in pieces that its threads interleave at any point, even
# between a piece and its number ("... connected to [Gloo] Rank 1 is connected to 1 peer
# ranks. ...: 11 peer ranks. ..."): so its text pieces are removed wherever they are, and
# what is left must be exactly its numbers, three one-digit numbers a note (4 ranks).
# gloo's note, "[Gloo] Rank 1 is connected to 1 peer ranks. Expected number of connected
# peer ranks is : 1", in pieces without spaces: the ranks' threads interleave their notes
# (a note's tail can follow the next note's head), so each piece is removed on its own.
_GLOO_PIECES = ("Expectednumberofconnectedpeerranksis:", "[Gloo]Rank", "isconnectedto",
                "peerranks.")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any cluster's variables, alsjax importable,
    the persistent cache off, and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLUSTER)}
    return env | dict(PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                      ALSJAX_CACHE_DIR="off") | extra


def host_devices(n: int) -> str:
    """`XLA_FLAGS` for a process with `n` host devices: this process's flags (the suite's
    emitters, conftest) kept, the device count added."""
    return f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n}".strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_processes(target: Path, tmp_path: Path, *options: str,
                  mode: tuple[str, ...] = ("--per-subject",)) -> list[tuple[int, str, str]]:
    """`alsjax fit TARGET --per-subject --distributed OPTIONS` (or another `mode`) as
    processes 0 and 1 on localhost, 2 host devices each, process i writing to
    tmp_path/out{i}. Returns (exit code, stdout, stderr) per process; on any failure or
    timeout the children are killed."""
    port = _free_port()
    workers = []
    try:
        for rank in (0, 1):
            env = clean_env(JAX_PLATFORMS="cpu", COLUMNS="200",
                            XLA_FLAGS=host_devices(2),
                            JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                            JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(rank))
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "alsjax", "fit", str(target), *mode,
                 "--distributed", "--out", str(tmp_path / f"out{rank}"), *options],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        done = [w.communicate(timeout=TIMEOUT) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
    return [(w.returncode, *d) for w, d in zip(workers, done, strict=True)]


def beyond_gloo_notes(text: str) -> str:
    """`text` less gloo's connection notes: "" when it holds nothing else (each note's three
    one-digit numbers included), else `text`."""
    rest = "".join(text.split())
    notes = rest.count(_GLOO_PIECES[1])
    for piece in _GLOO_PIECES:
        rest = rest.replace(piece, "")
    return "" if not rest or (rest.isdigit() and len(rest) == 3 * notes) else text
