"""Several processes, one fit: `jax.distributed` set up from the environment.

With `alsjax fit ... --distributed` every process (one per node, or one per GPU under a
cluster manager) runs the same command; `initialize_distributed` joins them before
anything touches a device, after which `jax.devices()` lists the devices of every
process and the fit's mesh (`_optimise.device_mesh`, per-subject or population) spans
them all. JAX itself does the sharding and the gathering; alsjax keeps no scheduler of
its own.

JAX reads `JAX_COORDINATOR_ADDRESS` itself but not the number of processes nor this
process's rank, so those come from `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID` here; under
SLURM or Open MPI, whatever is unset is detected by JAX from the cluster. The CLI calls
this (never `import alsjax`, which changes no JAX setting), and only process 0 writes the
output folder and prints: `is_writer`. A check only process 0 makes (its output folder)
is shared with `all_agree`, so the others stop with it instead of waiting for it.
"""

from __future__ import annotations

import os

from ._errors import ALSJaxError

ENV_VARIABLES: tuple[str, ...] = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES",
                                  "JAX_PROCESS_ID")
"""Where the coordinator listens (host:port, reachable from every node), how many
processes take part, and this process's rank (0 is the coordinator and the writer)."""

_HOW = ("set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID on every "
        "process, or launch under SLURM or Open MPI (srun, mpirun)")


def _whole(name: str, lowest: int) -> int | None:
    """The environment variable `name` as a whole number >= `lowest`, or None if unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < lowest:
        raise ALSJaxError(f"--distributed: {name} must be a whole number >= {lowest}, "
                          f"got {text!r}")
    return value


def initialize_distributed() -> None:
    """Join this process to the others (`jax.distributed.initialize`), from the
    environment. Must run before any JAX computation or device query in the process.

    A missing or malformed variable, or processes that cannot reach the coordinator, is
    one `ALSJaxError` line naming the cause.
    """
    import jax

    num_processes = _whole("JAX_NUM_PROCESSES", 1)
    process_id = _whole("JAX_PROCESS_ID", 0)
    if num_processes is not None and process_id is not None and process_id >= num_processes:
        raise ALSJaxError(f"--distributed: JAX_PROCESS_ID must be below JAX_NUM_PROCESSES "
                          f"({num_processes}), got {process_id}")
    try:
        jax.distributed.initialize(num_processes=num_processes, process_id=process_id)
    except (ValueError, TypeError) as e:
        # Raised before any connection: something the cluster did not supply either.
        missing = [k for k in ENV_VARIABLES if not os.environ.get(k, "").strip()]
        if missing:
            raise ALSJaxError(f"--distributed: environment variable {missing[0]} is not "
                              f"set; {_HOW}") from None
        raise ALSJaxError(f"--distributed: {' '.join(str(e).split())}") from None
    except RuntimeError as e:  # JAX's runtime errors: no coordinator, a timeout, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ALSJaxError(f"--distributed: {first}") from None


def is_writer() -> bool:
    """Whether this process writes the outputs and prints: process 0, or the only one."""
    import jax

    return jax.process_index() == 0


def all_agree(ok: bool) -> bool:
    """Whether `ok` holds on every process (a gather over the processes; every process
    must call it): a process that cannot go on stops the others before the fit, instead
    of leaving them waiting for it in the fit's first gather."""
    import jax
    import numpy as np

    if jax.process_count() == 1:
        return ok
    from jax.experimental import multihost_utils

    return bool(np.all(multihost_utils.process_allgather(np.asarray(ok))))
