"""One solve of the cascade over diffrax: `simulate(p, ts, therapy)`.

Event times come from clocks integrated beside the cascade: clock i grows at rate
sigmoid(margin_i / width), so at the end of the run it holds the time spent before the
margin fell through zero. For a margin that crosses once, the smooth indicator integrates
to the crossing time exactly up to the curvature of the margin (a symmetric sigmoid
integrates a linear crossing exactly), and it is differentiable, which a fit to
time-to-event data needs.
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
"""Width of the smooth event indicator, in units of the event's signal (function)."""

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
DEFAULT_MAX_STEPS = 4096


class Solution(eqx.Module):
    """A solved trajectory.

    - `ts`: output times (days), shape `(T,)`.
    - `ys`: states at `ts`, shape `(T, n_states)` in the order of `STATE_NAMES`.
    - `observables`: name -> array `(T,)`.
    - `events`: name -> day of the event, `inf` if it has not happened by `ts[-1]`
      (NaN where the solve failed).
    - `success`: False where the solver failed (then `ys` is NaN).
    - `num_steps`: accepted + rejected solver steps.
    """

    ts: Float[Array, "*b T"]
    ys: Float[Array, "*b T states"]
    observables: dict[str, Float[Array, "*b T"]]
    events: dict[str, Float[Array, "*b"]]
    success: Bool[Array, "*b"]
    num_steps: Int[Array, "*b"]


def _augmented(t, y, args):
    r, therapy = args
    states = y[: len(STATE_NAMES)]
    dstates = cascade(t, states, args)
    dclocks = jax.nn.sigmoid(event_margins(states, r) / EVENT_WIDTH)
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
    A failed solve gives `success=False` and NaN states, never an exception.
    """
    check_times(ts)
    ts = jnp.asarray(ts, dtype=jnp.result_type(float))
    therapy = no_therapy() if therapy is None else therapy
    r = physical(p)
    y0 = jnp.concatenate([initial_state(p), jnp.zeros(len(EVENT_NAMES), ts.dtype)])
    controller = diffrax.PIDController(rtol=rtol, atol=atol)
    # Drug starts are discontinuities: step to just before and after each one.
    jumps = jnp.where(therapy.on > 0, therapy.start, -1.0).astype(ts.dtype)
    controller = diffrax.ClipStepSizeController(controller, jump_ts=jumps)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_augmented),
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
    success = sol.result == diffrax.RESULTS.successful
    return finish_solution(ts, sol.ys, r, success, sol.stats["num_steps"])


def finish_solution(
    ts: Float[Array, " T"],
    ys_all: Float[Array, "T states+events"],
    r: dict,
    success: Bool[Array, ""],
    num_steps: Int[Array, ""],
) -> Solution:
    """The `Solution` of one trajectory from its states and event clocks at `ts`.

    Shared by `simulate` and `simulate_batch` (under vmap); NaN states where not `success`.
    """
    ys_all = jnp.where(success, ys_all, jnp.nan)
    ys, clocks = ys_all[:, : len(STATE_NAMES)], ys_all[-1, len(STATE_NAMES):]
    crossed = event_margins(ys[-1], r) < 0
    event_days = jnp.where(success, jnp.where(crossed, clocks, jnp.inf), jnp.nan)
    return Solution(
        ts=ts,
        ys=ys,
        observables=observables(ys, r),
        events=dict(zip(EVENT_NAMES, event_days, strict=True)),
        success=success,
        num_steps=num_steps,
    )
