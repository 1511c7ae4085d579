"""One solve of the cascade over diffrax: `simulate(p, ts, therapy)`.

Event times come from clocks integrated beside the cascade: clock i grows at rate
sigmoid(margin_i / width_i), so at the end of the run it holds the time spent before the
margin fell through zero. For a margin that crosses once, the smooth indicator integrates
to the crossing time exactly up to the curvature of the margin (a symmetric sigmoid
integrates a linear crossing exactly), and it is differentiable, which a fit to
time-to-event data needs. The width is set in time (`EVENT_TIME_WIDTH`), so the indicator
switches over several solver steps: one far sharper than a step is invisible to the
step-size controller, and the clock then jumps by up to a day wherever the step sequence
changes (benchmarks/RESULTS.md, 2026-12-05).
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from ._errors import ALSJaxError
from ._model import STATE_NAMES, cascade, initial_state
from ._observables import EVENT_NAMES, event_margins, observables
from ._params import Params, physical
from ._therapy import Therapy, no_therapy

EVENT_WIDTH = 0.001
"""Least width of the smooth event indicator, in units of the event's signal (function)."""

EVENT_TIME_WIDTH = 0.004
"""Width of the smooth event indicator in time, as a fraction of the day t: the margin
over its rate of change is the time left to the crossing (linearly extrapolated), and the
indicator is sigmoid(time left / (0.004 t)), or sigmoid(margin / `EVENT_WIDTH`) where
that is wider. A linear crossing is still integrated exactly; the margin's curvature
biases an event day by at most about 1e-4 of it (0.17 day at a human death on day 1,200,
0.03 day in the mouse), smoothly, where a sharp indicator's clock jumped by up to 1.4 days
between nearby parameters (benchmarks/RESULTS.md, 2026-12-05)."""

FAILURE_REASONS: tuple[str, ...] = (
    "solved",
    "the step limit (max_steps) was reached",
    "the state became non-finite (NaN or inf)",
    "the step size collapsed: the equations became too stiff for an explicit solver",
    "the solver failed",
)
"""What `Solution.status` means: index 0 is success, the others are why a solve stopped."""

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
DEFAULT_MAX_STEPS = 4096


class Solution(eqx.Module):
    """A solved trajectory.

    - `ts`: output times (days), shape `(T,)`.
    - `ys`: states at `ts`, shape `(T, n_states)` in the order of `STATE_NAMES`.
    - `observables`: name -> array `(T,)`.
    - `events`: name -> day of the event, `inf` if it has not happened by `ts[-1]`;
      after a failure, the day where it happened before the failure, else NaN.
    - `success`: False where the solver failed. A failed solve keeps the states it
      reached; the output times after the failure are NaN.
    - `status`: 0 on success, else why the solve stopped: `FAILURE_REASONS[status]`
      (`failure_reason(sol)` for a single solve).
    - `num_steps`: accepted + rejected solver steps.
    """

    ts: Float[Array, "*b T"]
    ys: Float[Array, "*b T states"]
    observables: dict[str, Float[Array, "*b T"]]
    events: dict[str, Float[Array, "*b"]]
    success: Bool[Array, "*b"]
    num_steps: Int[Array, "*b"]
    status: Int[Array, "*b"]


def failure_reason(sol: Solution) -> str:
    """Why a single (unbatched, concrete) solve stopped, in words ("solved" if it did not)."""
    return FAILURE_REASONS[int(sol.status)]


def status_of(result: diffrax.RESULTS) -> Int[Array, ""]:
    """A diffrax result as an index into `FAILURE_REASONS` (works under jit)."""
    R = diffrax.RESULTS
    return jnp.select(
        [result == R.successful, result == R.max_steps_reached,
         (result == R.nonfinite) | (result == R.nonfinite_input), result == R.dt_min_reached],
        [0, 1, 2, 3], 4)


@jax.jit
def augmented_field(t, y, args):
    """The cascade plus its event clocks (see the module docstring); `args = (rates,
    therapy)`. The right-hand side every solver of alsjax integrates.

    Jitted so that each of a solver's evaluations is one call of one traced program:
    a Tsit5 step calls it six times and a lane solve about ten, and `vmap`, `jvp` and
    their transposes then transform that program once instead of every inlined copy
    (tracing and lowering a solver's gradient take about half the time; XLA inlines the
    calls again before it optimises, so the compiled program runs as before)."""
    r, therapy = args
    states = y[: len(STATE_NAMES)]
    dstates = cascade(t, states, args)
    margin, rate = jax.jvp(lambda y: event_margins(y, r), (states,), (dstates,))
    width = jnp.maximum(EVENT_TIME_WIDTH * t * jnp.abs(rate), EVENT_WIDTH)
    dclocks = jax.nn.sigmoid(margin / width)
    return jnp.concatenate([dstates, dclocks])


def check_times(ts: ArrayLike, where: str = "ts") -> None:
    """Raise `ALSJaxError` for times that are not finite, non-negative and sorted.

    Skipped for traced values (inside jit), where there is nothing concrete to check.
    """
    if isinstance(ts, jax.core.Tracer):
        return
    arr = np.asarray(ts, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ALSJaxError(f"{where}: expected a non-empty 1-D array of days, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ALSJaxError(f"{where}: times must be finite (found NaN or inf at index "
                          f"{int(np.flatnonzero(~np.isfinite(arr))[0])})")
    if np.any(arr < 0):
        raise ALSJaxError(f"{where}: times must be >= 0 days (t = 0 is the cascade's start), "
                          f"found {arr[arr < 0][0]:g}")
    if np.any(np.diff(arr) < 0):
        i = int(np.flatnonzero(np.diff(arr) < 0)[0])
        raise ALSJaxError(f"{where}: times must be sorted, but {arr[i]:g} comes before "
                          f"{arr[i + 1]:g} (index {i + 1})")


def simulate(
    p: Params,
    ts: Float[ArrayLike, " T"],
    therapy: Therapy | None = None,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    max_steps: int = DEFAULT_MAX_STEPS,
    solver: diffrax.AbstractSolver | None = None,
    adjoint: diffrax.AbstractAdjoint | None = None,
) -> Solution:
    """Solve the cascade from t = 0 and report states, observables and events at `ts`.

    **Arguments:**
    - `p`: parameters (`default_params(...)`).
    - `ts`: output days, sorted, >= 0.
    - `therapy`: drugs and start days (`make_therapy(riluzole=0.0)`); None for none.
    - `rtol`, `atol`: tolerances of the PID step-size controller.
    - `solver`, `adjoint`: diffrax overrides; default Tsit5 and recursive checkpointing
      (use `diffrax.ForwardMode()` under `jax.jacfwd`).

    Pure: passes `jax.jit`, `jax.vmap` (over `p`, `ts`, `therapy`) and `jax.grad`.
    A failed solve gives `success=False`, its reason in `status`, and NaN states after
    the failure, never an exception. Times that are not finite, >= 0 and sorted raise
    `ALSJaxError` outside jit and an equinox runtime error inside it.
    """
    check_times(ts)
    ts = checked_times(jnp.asarray(ts, dtype=jnp.result_type(float)))
    therapy = no_therapy() if therapy is None else therapy
    r = physical(p)
    y0 = jnp.concatenate([initial_state(p), jnp.zeros(len(EVENT_NAMES), ts.dtype)])
    controller = diffrax.PIDController(rtol=rtol, atol=atol)
    # Drug starts are discontinuities: step to just before and after each one.
    jumps = jnp.where(therapy.on > 0, therapy.start, -1.0).astype(ts.dtype)
    controller = diffrax.ClipStepSizeController(controller, jump_ts=jumps)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(augmented_field),
        diffrax.Tsit5() if solver is None else solver,
        t0=0.0,
        t1=ts[-1],
        dt0=None,
        y0=y0,
        args=(r, therapy),
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=controller,
        adjoint=diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint,
        max_steps=max_steps,
        throw=False,
    )
    return finish_solution(ts, sol.ys, r, status_of(sol.result), sol.stats["num_steps"])


def checked_times(ts: Float[Array, "... T"]) -> Float[Array, "... T"]:
    """`ts`, with an equinox runtime error under jit unless finite, >= 0 and sorted."""
    bad = ~jnp.all(jnp.isfinite(ts)) | jnp.any(ts < 0) | jnp.any(jnp.diff(ts, axis=-1) < 0)
    return eqx.error_if(ts, bad, "ts: times must be finite, >= 0 days and sorted")


def finish_solution(
    ts: Float[Array, " T"],
    ys_all: Float[Array, "T states+events"],
    r: dict,
    status: Int[Array, ""],
    num_steps: Int[Array, ""],
) -> Solution:
    """The `Solution` of one trajectory from its states and event clocks at `ts`.

    Shared by `simulate` and `simulate_batch` (under vmap). Output times the solver did
    not reach (non-finite rows: diffrax leaves them inf, the lane queue NaN) become NaN;
    events are read at the last time reached.
    """
    success = status == 0
    reached = jnp.all(jnp.isfinite(ys_all), axis=-1)
    reached = jnp.cumprod(reached.astype(jnp.int32)).astype(bool)  # a prefix of the times
    ys_all = jnp.where(reached[:, None], ys_all, jnp.nan)
    last = jnp.maximum(jnp.sum(reached) - 1, 0)
    ys, clocks = ys_all[:, : len(STATE_NAMES)], ys_all[last, len(STATE_NAMES):]
    crossed = event_margins(ys[last], r) < 0
    event_days = jnp.where(crossed, clocks, jnp.where(success, jnp.inf, jnp.nan))
    event_days = jnp.where(jnp.any(reached), event_days, jnp.nan)
    return Solution(
        ts=ts,
        ys=ys,
        observables=observables(ys, r),
        events=dict(zip(EVENT_NAMES, event_days, strict=True)),
        success=success,
        num_steps=num_steps,
        status=status,
    )
