"""One solver for a cohort: every subject's observables and events in one batched solve.

Two methods do the same job: `"vmap"`, a plain `jax.vmap` of `simulate` (quicker to
compile), and `"lanes"`, the lane-queue `simulate_batch` (no lockstep between subjects,
faster for large cohorts). `"auto"` takes the lane queue from `BATCH_MIN_SUBJECTS`
subjects on. The likelihood, the fit's report and the synthetic datasets all solve
cohorts here, so a method is chosen in one place and can be forced by an argument.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ._batch import simulate_batch
from ._errors import ALSJaxError
from ._observables import EVENT_NAMES, OBSERVABLE_NAMES
from ._params import Params
from ._simulate import DEFAULT_ATOL, DEFAULT_RTOL, Solution, simulate
from ._therapy import Therapy

COHORT_METHODS: tuple[str, ...] = ("auto", "vmap", "lanes")

BATCH_MIN_SUBJECTS = 64
"""From this many subjects on, `method="auto"` solves a cohort with `simulate_batch`,
whose trajectories do not march in lockstep; below it the plain vmap of `simulate`
compiles about three times faster and runs as fast (benchmarks/RESULTS.md)."""


class CohortSolution(eqx.Module):
    """Observables `(S, T, K)` (order of `OBSERVABLE_NAMES`), event days `(S, E)` (order
    of `EVENT_NAMES`), success and failure status `(S,)` (see `Solution`)."""

    observables: Float[Array, "S T K"]
    events: Float[Array, "S E"]
    success: Bool[Array, " S"]
    status: Int[Array, " S"]


def check_method(method: str) -> str:
    if method not in COHORT_METHODS:
        raise ALSJaxError(f"cohort method: expected one of {', '.join(COHORT_METHODS)}, "
                          f"got {method!r}")
    return method


def solves_by_vmap(method: str, n_subjects: int) -> bool:
    """Whether `solve_cohort(..., method=method)` solves `n_subjects` by `jax.vmap` of
    `simulate` (otherwise by the lane queue)."""
    return method == "vmap" or (method == "auto" and n_subjects < BATCH_MIN_SUBJECTS)


def _stacked(sol: Solution) -> CohortSolution:
    return CohortSolution(
        observables=jnp.stack([sol.observables[k] for k in OBSERVABLE_NAMES], axis=-1),
        events=jnp.stack([sol.events[k] for k in EVENT_NAMES], axis=-1),
        success=sol.success,
        status=sol.status,
    )


def solve_cohort(
    params: Params,
    ts: Float[Array, "S T"],
    therapy: Therapy,
    *,
    method: str = "auto",
    adjoint=None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> CohortSolution:
    """Solve S subjects: `params`, `ts` and `therapy` all carry a leading axis S.

    `adjoint` is `simulate`'s (e.g. `diffrax.ForwardMode()` for `jax.jacfwd`); the lane
    queue ignores it: its `gradient="auto"` serves `jax.jacfwd` (forward sensitivities) and
    `jax.grad` (the adjoint when many parameters are differentiated). `rtol`, `atol`: the
    step-size controller's tolerances. Pure: jit, vmap and grad pass through.
    """
    check_method(method)
    if solves_by_vmap(method, ts.shape[0]):
        solve = jax.vmap(lambda p, t, th: simulate(p, t, th, adjoint=adjoint, rtol=rtol,
                                                   atol=atol))
        return _stacked(solve(params, ts, therapy))
    return _stacked(simulate_batch(params, ts, therapy, rtol=rtol, atol=atol))
