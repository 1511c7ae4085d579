"""Many solves at once: `simulate_batch(params, ts, therapy)`.

`jax.vmap(simulate)` runs every trajectory for as many loop iterations as the slowest one
needs, and pays diffrax's per-step bookkeeping on each. Here one `lax.while_loop` drives a
fixed number of *lanes* (a few hundred trajectories side by side), each with its own time,
step size and Tsit5 stages; a lane that finishes takes the next unsolved trajectory from
the queue. The loop's length is then about (sum of steps) / lanes instead of the largest
step count, and one iteration costs little beyond the vector field itself.

Each lane steps exactly onto the output times (no interpolation) and onto drug starts,
which are discontinuities of the vector field: it stops one float short of a start, then
continues from the start with a fresh first stage. Step-size control is diffrax's
`PIDController` default (an I controller: safety 0.9, factor limits 0.2 and 10, exponent
1/5, RMS norm) and the first step is its initial-step rule, so results agree with
`simulate` to the tolerance (not step for step: `diffeqsolve` wraps the term and then
starts from a fixed 0.01-day step in diffrax 0.7.2).

The Tsit5 step, the controller and the initial step are written out here rather than
taken from diffrax's public `solver.step` and `PIDController.adapt_step_size`: stepping
the lanes through those ran at 0.53-0.60x the speed (N = 256 and 4096,
`benchmarks/bench_diffrax_stepping.py`), against a rule of within 10%.
`tests/test_batch_tableau.py` checks the tableau, the constants, one step and the initial
step against diffrax's own, so an upgrade of diffrax cannot drift silently.

Derivatives (`gradient="auto"`, the default): the state tangent is a linear map of the
parameter tangents (`jax.custom_derivatives.linear_call`). Evaluated forward (`jax.jvp`,
`jax.jacfwd`) it is one forward sensitivity of the solver loop per tangent direction;
transposed (`jax.grad`, `jax.vjp`) it is, for up to `AUTO_FORWARD_MAX_PARAMS`
differentiated parameters, the forward Jacobian columns contracted with the cotangent,
and beyond that the checkpointed adjoint of `simulate` (cost independent of the number
of parameters). `"forward"` and `"reverse"` force one or the other. As in diffrax, step
sizes are not differentiated.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jaxtyping import Array, ArrayLike, Float, Int

from ._errors import ALSJaxError
from ._model import initial_state
from ._observables import EVENT_NAMES
from ._params import PARAMETER_NAMES, Params, physical
from ._simulate import (
    DEFAULT_ATOL,
    DEFAULT_MAX_STEPS,
    DEFAULT_RTOL,
    Solution,
    augmented_field,
    check_times,
    checked_times,
    finish_solution,
    simulate,
)
from ._therapy import DRUGS, Therapy

_TABLEAU = diffrax.Tsit5.tableau
_ERROR_ORDER = 5.0  # of Tsit5's embedded error estimate, as diffrax uses it
_SAFETY, _FACTORMIN, _FACTORMAX = 0.9, 0.2, 10.0
_DT_COLLAPSE = 1e-9  # a step size below this times max(t, 1 day) ends a lane as failed
# On a CPU: against 256 lanes, 128 ran the forward solve 0.86-0.97 of the time, the
# forward and adjoint gradients 0.80 and 0.71, and 512 lanes 1.16-1.25 (2 cores;
# benchmarks/RESULTS.md, 2026-12-07; why not profiled: likely the caches).
DEFAULT_LANES = 128
# On a GPU or TPU: a guess, not measured (no accelerator has run this solver yet). A loop
# iteration there costs its few hundred kernel launches whatever its width, so the lanes
# must be wide enough to fill the device: a CPU's 128 would leave it nearly idle.
ACCELERATOR_LANES = 65_536
_DOOMED_FACTOR = 2.0  # a lane whose projected steps exceed this times max_steps ends early
_DOOMED_MIN_STEPS = 128  # ... once it has taken max(max_steps / 8, this many) steps


class _Lane(NamedTuple):
    """What a lane reads of its trajectory, gathered once when it takes it."""

    rates: Array  # the rates not differentiated forward, one row each (lane axis last)
    moving: dict  # the rates differentiated forward (`_integrate`'s `varying`)
    therapy: Therapy
    ts: Array  # output times
    jumps: Array  # drug start days (-1 for a drug that is off)


def _rms(x: Array) -> Array:
    # Summed column by column rather than with `jnp.mean`: XLA's CPU backend hands a
    # floating-point `reduce` to YNNPACK, which made a lane step 13% slower
    # (benchmarks/RESULTS.md, 2026-12-03).
    return jnp.sqrt(sum(x[..., i] ** 2 for i in range(x.shape[-1])) / x.shape[-1])


def _first_step(f, y0, f0, rtol, atol):
    """diffrax's initial step size (Hairer, Norsett and Wanner, II.4) for one trajectory."""
    scale = atol + jnp.abs(y0) * rtol
    d0, d1 = _rms(y0 / scale), _rms(f0 / scale)
    small = (d0 < 1e-5) | (d1 < 1e-5)
    h0 = jnp.where(small, 1e-6, 0.01 * d0 / jnp.where(small, 1.0, d1))
    f1 = f(h0, y0 + h0 * f0)
    d2 = _rms((f1 - f0) / scale) / h0
    max_d = jnp.maximum(d1, d2)
    h1 = jnp.where(
        max_d <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3), (0.01 / max_d) ** (1 / _ERROR_ORDER)
    )
    return jnp.minimum(100 * h0, h1)


def _tsit5(f, t, y, k1, h, t_end):
    """One Tsit5 step from (t, y) with first stage k1: (y1, error estimate, k7 = f(t1, y1))."""
    a, b, e, c = _TABLEAU.a_lower, _TABLEAU.b_sol, _TABLEAU.b_error, _TABLEAU.c
    ks = [k1]
    for i in range(len(a)):
        yi = y + h * sum(float(a[i][j]) * ks[j] for j in range(i + 1))
        # Stage times never pass the end of the step (a drug start may lie just after it).
        ks.append(f(jnp.minimum(t + float(c[i]) * h, t_end), yi))
    # Tsit5 is first-same-as-last: the last stage is at (t + h, y1).
    y1 = y + h * sum(float(b[j]) * ks[j] for j in range(len(ks) - 1) if b[j] != 0)
    y_err = h * sum(float(e[j]) * ks[j] for j in range(len(ks)))
    return y1, y_err, ks[-1]


def _integrate(
    params: Params,
    ts: Float[Array, "B T"],
    therapy: Therapy,
    rtol: float,
    atol: float,
    max_steps: int,
    lanes: int,
    varying: tuple[str, ...] = (),
) -> tuple[Float[Array, "B T n"], Int[Array, " B"], Int[Array, " B"]]:
    """Solve every trajectory with the lane queue: states at `ts` (NaN where not reached),
    status (an index into `FAILURE_REASONS`) and steps taken, per trajectory.

    A lane fails at once, and takes the next trajectory, when its step limit is reached
    or its step size collapses (`_DT_COLLAPSE`): a proposal with a non-finite state is
    rejected and the step shrunk, so a blow-up or stiffness ends in a collapse within a
    few dozen steps instead of running on to `max_steps`. A stiff but stable lane keeps
    a small, steady step instead; once it has used an eighth of its steps, it ends (as
    at the step limit) if at its pace it would need `_DOOMED_FACTOR` times the limit.

    `varying`: the parameters a caller differentiates forward through this solve; their
    rates stay apart from the others' (below), so the tangents carried through the loop
    are theirs alone.
    """
    n_traj, n_times = ts.shape
    dtype = ts.dtype
    rates = jax.vmap(physical)(params)
    n_clocks = len(EVENT_NAMES)
    y0 = jax.vmap(initial_state)(params).astype(dtype)
    y0 = jnp.concatenate([y0, jnp.zeros((n_traj, n_clocks), dtype)], axis=-1)
    n_y = y0.shape[-1]
    jumps = jnp.where(therapy.on > 0, therapy.start, -1.0).astype(dtype)

    def field(i):  # the vector field of trajectory i, for vmap over lanes
        args = (jax.tree.map(lambda v: v[i], rates), jax.tree.map(lambda v: v[i], therapy))
        return lambda t, y: augmented_field(t, y, args)

    f0 = jax.vmap(lambda i: field(i)(jnp.zeros((), dtype), y0[i]))(jnp.arange(n_traj))
    h0 = jax.vmap(lambda i, y, k: _first_step(field(i), y, k, rtol, atol))(
        jnp.arange(n_traj), y0, f0
    )
    h0 = jax.lax.stop_gradient(h0)
    lanes = min(lanes, n_traj)
    inf = jnp.asarray(jnp.inf, dtype)

    # The lanes' rates as one (rates, lanes) array: taking a trajectory is then one
    # gather and one select instead of one per rate, and each rate a lane's field reads
    # is a contiguous row ((lanes, rates) instead: 1.09x the solve's time, 2026-12-08).
    # The differentiated ones stay apart: packed with the others,
    # every rate would carry a tangent (forward sensitivities 14-19 % slower).
    fixed = tuple(name for name in rates if name not in varying)
    rate_rows = (jnp.stack([rates[name] for name in fixed]) if fixed
                 else jnp.zeros((0, n_traj), dtype))
    moving = {name: rates[name] for name in varying}

    def lane_data(i):
        return _Lane(rate_rows[:, i], jax.tree.map(lambda v: v[i], moving),
                     jax.tree.map(lambda v: v[i], therapy), ts[i], jumps[i])

    def lane_field(d):
        r = {name: d.rates[j] for j, name in enumerate(fixed)} | d.moving
        return lambda t, y: augmented_field(t, y, (r, d.therapy))

    lane_axes = (_Lane(1, 0, 0, 0, 0), 0, 0, 0, 0, 0)  # of lane_step's (d, t, y, k1, dt, k)
    state_axes = (lane_axes[0], 0, 0, 0, 0, 0, 0)  # of (d, t, y, k1, dt, k, steps)

    def lane_step(d, t, y, k1, dt, k):
        f = lane_field(d)
        target = d.ts[k]
        jump = jnp.min(jnp.where(d.jumps > t, d.jumps, inf))
        at_jump = jump <= target
        # One float short of the start, with the start's own derivative (the gap is
        # exact), so that moving a start moves the step onto it (`_forward_columns`).
        fixed = jax.lax.stop_gradient(jump)
        short = jump - (fixed - jnp.nextafter(fixed, -inf))
        target = jnp.where(at_jump, short, target)
        clipped = dt >= target - t
        h = jnp.where(clipped, target - t, dt)
        t_end = jnp.where(clipped, target, t + h)
        y1, y_err, k7 = _tsit5(f, t, y, k1, h, t_end)
        scale = atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y1))
        err = jax.lax.stop_gradient(_rms(y_err / scale))
        bad = ~jnp.all(jnp.isfinite(y1)) | ~jnp.isfinite(err)
        keep = ~bad & (err < 1)
        safe_err = jnp.where(bad, 1.0, err)
        factor = jnp.clip(
            _SAFETY * (1 / safe_err) ** (1 / _ERROR_ORDER),
            jnp.where(keep, 1.0, _FACTORMIN),
            jnp.where(keep, _FACTORMAX, _SAFETY),
        )
        factor = jnp.where(bad, _FACTORMIN, factor)
        dt_next = jnp.where(keep & clipped, jnp.maximum(factor * h, dt), factor * h)
        jumped = keep & clipped & at_jump
        t_new = jnp.where(keep, jnp.where(jumped, jump, t_end), t)
        return (
            t_new,
            jnp.where(keep, y1, y),
            jnp.where(keep, k7, k1),
            jax.lax.stop_gradient(dt_next),
            jumped,
            bad,
        )

    lane_step = jax.vmap(lane_step, in_axes=lane_axes)

    def body(carry):
        idx, d, t, y, k1, dt, k, steps, stale, queue, out, status, nsteps = carry
        live = idx < n_traj
        k_safe = jnp.minimum(k, n_times - 1)
        # After a drug start the first stage is stale (FSAL): recompute it, rarely.
        def restart():
            fresh_k1 = jax.vmap(lambda d, t, y: lane_field(d)(t, y),
                                in_axes=lane_axes[:3])(d, t, y)
            return jnp.where(stale[:, None], fresh_k1, k1)

        k1 = jax.lax.cond(jnp.any(stale), restart, lambda: k1)
        t, y, k1, dt, stale, bad = lane_step(d, t, y, k1, dt, k_safe)
        steps = steps + 1
        # Write the state at every output time reached (repeated times take the first).
        k_new = jnp.sum(d.ts <= t[:, None], axis=-1, dtype=jnp.int32)
        write = live & (k_new > k)
        # Lanes that write nothing aim past the end, each at its own row: the indices are
        # then unique, which keeps the scatter's derivative as cheap as the scatter.
        row = jnp.where(write, idx * n_times + k_safe, n_traj * n_times + lane)
        out = out.at[row].set(y, mode="drop", unique_indices=True)
        k = jnp.maximum(k, k_new)
        done = k >= n_times
        # A lane whose pace (the better of its average step and its current one) would
        # need several times the step limit to reach its last time is ended now, as if at
        # the limit: a stiff but stable lane otherwise runs all of max_steps first.
        remaining = d.ts[:, -1] - t
        pace = jnp.maximum(t / jnp.maximum(steps, 1).astype(dtype), dt)
        doomed = (steps >= max(max_steps // 8, _DOOMED_MIN_STEPS)) & (
            steps.astype(dtype) + remaining / pace > _DOOMED_FACTOR * max_steps)
        out_of_steps = (steps >= max_steps) | doomed
        collapsed = dt < _DT_COLLAPSE * jnp.maximum(jnp.abs(t), 1.0)
        finish = live & (done | out_of_steps | collapsed)
        code = jnp.where(done, 0, jnp.where(out_of_steps, 1, jnp.where(bad, 2, 3)))
        where_done = jnp.where(finish, idx, n_traj)
        status = status.at[where_done].set(code.astype(jnp.int32), mode="drop")
        nsteps = nsteps.at[where_done].set(steps, mode="drop")
        # Finished lanes take the next trajectories of the queue.
        rank = jnp.cumsum(finish, dtype=jnp.int32) - 1
        new = jnp.where(finish, jnp.minimum(queue + rank, n_traj), idx)
        queue = queue + jnp.sum(finish, dtype=jnp.int32)
        fresh = finish & (new < n_traj)

        def refill(lane_state):
            j = jnp.where(fresh, new, 0)

            def sel(axis, a, b):  # the fresh lanes' values of a, along the lane axis
                shape = [1] * a.ndim
                shape[axis] = -1
                return jnp.where(fresh.reshape(shape), a, b)

            take = (lane_data(j), jnp.zeros_like(t), y0[j], f0[j], h0[j], jnp.zeros_like(k),
                    jnp.zeros_like(steps))
            return jax.tree.map(lambda axis, a, b: jax.tree.map(functools.partial(sel, axis), a, b),
                                state_axes, take, lane_state)

        # Lanes take new trajectories only on the iterations where some lane finished.
        lane_state = (d, t, y, k1, dt, k, steps)
        d, t, y, k1, dt, k, steps = jax.lax.cond(jnp.any(fresh), refill, lambda s: s,
                                                 lane_state)
        return (new, d, t, y, k1, dt, k, steps, stale & ~fresh, queue, out, status, nsteps)

    first = lane = jnp.arange(lanes, dtype=jnp.int32)
    carry = (
        first,
        lane_data(first),
        jnp.zeros(lanes, dtype),
        y0[first],
        f0[first],
        h0[first],
        jnp.zeros(lanes, jnp.int32),
        jnp.zeros(lanes, jnp.int32),
        jnp.zeros(lanes, bool),
        jnp.asarray(lanes, jnp.int32),
        jnp.full((n_traj * n_times, n_y), jnp.nan, dtype),
        jnp.zeros(n_traj, jnp.int32),
        jnp.zeros(n_traj, jnp.int32),
    )
    carry = jax.lax.while_loop(lambda c: jnp.any(c[0] < n_traj), body, carry)
    out, status, nsteps = carry[-3:]
    out = out.reshape(n_traj, n_times, n_y)
    # Repeated output times: copy the first occurrence, which is the one written.
    first_k = jax.vmap(lambda row: jnp.searchsorted(row, row, side="left"))(ts)
    out = jnp.take_along_axis(out, first_k[..., None], axis=1)
    return out, status, nsteps


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _solve(params, ts, therapy, config):
    return _integrate(params, ts, therapy, *config)


def _moving_starts(dtherapy):
    """The drug start days' tangent, or None where no start moves."""
    dstart = getattr(dtherapy, "start", None)
    return None if dstart is None or isinstance(dstart, SymbolicZero) else dstart


def _forward_columns(params, ts, therapy, config, names, dparams, dstart):
    """One solve with a forward-mode sensitivity per parameter in `names` and, where
    `dstart` is not None, per drug: column j of the Jacobian of every trajectory at once
    (trajectories do not couple), contracted with the tangents. Returns the solve's
    `(out, status, nsteps)` and the states' tangent.

    A start is a discontinuity of the vector field: moving it by d moves the state after it
    by Phi (f before - f after) d. The lane queue steps onto each start (`lane_step`), so
    that jump is the derivative of the step that ends there and of those after it. The
    columns form a matrix before the contraction, so `jax.grad` can transpose it."""
    n_drugs = 0 if dstart is None else therapy.start.shape[-1]
    values = [getattr(params, n) for n in names]

    def run(values, start):
        p = dataclasses.replace(params, **dict(zip(names, values, strict=True)))
        out, status, nsteps = _integrate(p, ts, Therapy(on=therapy.on, start=start), *config,
                                         varying=tuple(names))
        return out, (status, nsteps)

    def column(j):
        basis = [jnp.where(i == j, 1.0, 0.0) * jnp.ones_like(v) for i, v in enumerate(values)]
        if dstart is None:
            return jax.jvp(lambda v: run(v, therapy.start), (values,), (basis,), has_aux=True)
        drug = jnp.arange(n_drugs) == j - len(names)
        dstart_j = jnp.broadcast_to(jnp.where(drug, 1.0, 0.0).astype(therapy.start.dtype),
                                    therapy.start.shape)
        return jax.jvp(run, (values, therapy.start), (basis, dstart_j), has_aux=True)

    out, jac, (status, nsteps) = jax.vmap(column, out_axes=(None, 0, None))(
        jnp.arange(len(names) + n_drugs))
    jac = jnp.where(status[None, :, None, None] == 0, jac, 0.0)
    d = [jnp.asarray(getattr(dparams, n)) for n in names]
    if dstart is not None:
        d += list(jnp.moveaxis(jnp.asarray(dstart), -1, 0))
    dout = jnp.einsum("pbtn,pb->btn", jac, jnp.stack(d).astype(jac.dtype))
    return (out, status, nsteps), dout


def _solve_jvp(config, primals, tangents):
    params, ts, therapy = primals
    dparams, dts, dtherapy = tangents
    names = [n for n in PARAMETER_NAMES if not isinstance(getattr(dparams, n), SymbolicZero)]
    dstart = _moving_starts(dtherapy)
    if names or dstart is not None:
        (out, status, nsteps), dout = _forward_columns(params, ts, therapy, config, names,
                                                       dparams, dstart)
    else:
        out, status, nsteps = _integrate(params, ts, therapy, *config)
        dout = jnp.zeros_like(out)
    if not isinstance(dts, SymbolicZero):
        dout = dout + _time_tangent(params, ts, therapy, out, status, dts)
    no_tangent = [np.zeros(a.shape, dtype=jax.dtypes.float0) for a in (status, nsteps)]
    return (out, status, nsteps), (dout, *no_tangent)


_solve.defjvp(_solve_jvp, symbolic_zeros=True)


def _time_tangent(params, ts, therapy, out, status, dts):
    """The state at an output time moves with that time at the speed of the flow."""
    rates = jax.vmap(physical)(params)

    def flow(r, th, t, y):
        return jax.vmap(lambda t, y: augmented_field(t, y, (r, th)))(t, y)

    solved = (status == 0)[:, None, None]
    speed = jax.vmap(flow)(rates, therapy, ts, jnp.where(solved, out, 0.0))
    return jnp.where(solved, speed, 0.0) * dts[..., None]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _solve_reverse(params, ts, therapy, config):
    return _integrate(params, ts, therapy, *config)


def _solve_reverse_fwd(params, ts, therapy, config):
    out, status, nsteps = _integrate(params, ts, therapy, *config)
    return (out, status, nsteps), (params, ts, therapy, status == 0, nsteps)


def _solve_reverse_bwd(config, residuals, cotangents):
    """Reverse mode by diffrax's checkpointed adjoint of `simulate`, on chunks of
    trajectories sorted by their step counts so that each vmapped chunk wastes few steps.

    Only what `finish_solution` reads gets a cotangent: the states, and the event clocks
    at the last time (equal to the event days where the events happened).
    """
    params, ts, therapy, ok, nsteps = residuals
    ct = jnp.where(ok[:, None, None], cotangents[0], 0.0)
    rtol, atol, max_steps, lanes = config
    n = ts.shape[0]
    n_states = ct.shape[-1] - len(EVENT_NAMES)
    chunk = min(lanes, n)
    order = jnp.argsort(nsteps)
    pad = (-n) % chunk
    order = jnp.concatenate([order, jnp.full(pad, order[-1])]).reshape(-1, chunk)
    real = jnp.arange(order.size).reshape(order.shape) < n

    def one(p, t, th):
        sol = simulate(p, t, th, rtol=rtol, atol=atol, max_steps=max_steps)
        days = jnp.stack([sol.events[e] for e in EVENT_NAMES])
        return sol.ys, jnp.where(jnp.isfinite(days), days, 0.0)

    def grads(args):
        ix, keep = args
        take = functools.partial(jax.tree.map, lambda a: a[ix])
        _, vjp = jax.vjp(jax.vmap(one), take(params), ts[ix], take(therapy))
        w = keep[:, None, None].astype(ct.dtype)
        gp, gt, _ = vjp((ct[ix, :, :n_states] * w, ct[ix, -1, n_states:] * w[:, 0]))
        return gp, gt

    gp, gt = jax.lax.map(grads, (order, real))
    flat = order.reshape(-1)

    def scatter(g):
        g = g.reshape(-1, *g.shape[2:])
        g = jnp.where(real.reshape(-1, *([1] * (g.ndim - 1))), g, 0.0)
        g = jnp.zeros((n, *g.shape[1:]), g.dtype).at[flat].add(g)
        return jnp.where(ok.reshape(-1, *([1] * (g.ndim - 1))), g, 0.0)

    return jax.tree.map(scatter, gp), scatter(gt), jax.tree.map(jnp.zeros_like, therapy)


_solve_reverse.defvjp(_solve_reverse_fwd, _solve_reverse_bwd)


# --- gradient="auto": forward sensitivities under jvp, the adjoint under grad -----------

AUTO_FORWARD_MAX_PARAMS = 3
"""Under `jax.grad`, `gradient="auto"` takes forward sensitivities for up to this many
differentiated parameters (about 1.4 solves each) and the adjoint beyond (about 4-5
solves whatever their number; `benchmarks/bench_gradient_modes.py`)."""


def _linear_call_batch(args, dims, *, callee, transpose_thunk, num_callee_consts, num_res):
    """vmap of `linear_call` (JAX 0.10 has no rule; `jax.jacfwd` needs one): the same call
    with the function and its transpose vmapped, every linear argument batched in front."""
    from jax._src import core

    size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
    n_fixed = num_callee_consts + num_res
    fixed, lin = list(args[:n_fixed]), args[n_fixed:]
    fdims, rdims = list(dims[:n_fixed]), list(dims[num_callee_consts:n_fixed])
    lin = [jnp.broadcast_to(x, (size, *jnp.shape(x))) if d is None else jnp.moveaxis(x, d, 0)
           for x, d in zip(lin, dims[n_fixed:], strict=True)]

    def fun(fixed, lin):
        def one(fixed, lin):
            return core.eval_jaxpr(callee.jaxpr, callee.consts, *fixed, *lin)

        return jax.vmap(one, in_axes=(fdims, 0))(fixed, lin)

    def fun_transpose(fixed, cts):
        t_jaxpr, t_consts = transpose_thunk()

        def one(res, cts):
            return core.eval_jaxpr(t_jaxpr.jaxpr, t_jaxpr.consts, *t_consts, *res, *cts)

        return jax.vmap(one, in_axes=(rdims, 0))(fixed[num_callee_consts:], cts)

    out = jax.custom_derivatives.linear_call(fun, fun_transpose, fixed, lin)
    return out, [0] * len(out)


def _register_linear_call_batching():
    from jax._src.custom_derivatives import linear_call_p
    from jax._src.interpreters import batching

    if linear_call_p not in batching.fancy_primitive_batchers:
        batching.primitive_batchers[linear_call_p] = _linear_call_batch


_register_linear_call_batching()


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _solve_auto(params, ts, therapy, config):
    return _integrate(params, ts, therapy, *config)


def _solve_auto_jvp(config, primals, tangents):
    """Up to `AUTO_FORWARD_MAX_PARAMS` differentiated parameters: `gradient="forward"`'s
    rule (the forward Jacobian, applied and transposed as a matrix). Beyond: the state
    tangent is a linear map of the parameter tangents (`linear_call`) whose forward form
    is one forward sensitivity per tangent direction (`jax.jvp`, `jax.jacfwd`) and whose
    transpose (`jax.grad`, `jax.vjp`) is the adjoint."""
    params, ts, therapy = primals
    dparams, dts = tangents[0], tangents[1]
    names = tuple(n for n in PARAMETER_NAMES
                  if not isinstance(getattr(dparams, n), SymbolicZero))
    if len(names) <= AUTO_FORWARD_MAX_PARAMS:
        # Few parameters: the forward Jacobian, shared by jvp and its transpose.
        return _solve_jvp(config, primals, tangents)
    out, status, nsteps = _integrate(params, ts, therapy, *config)
    ok = status == 0
    if names:
        residual = (params, ts, therapy, ok, nsteps)

        def forward(res, dvalues):
            p, t, th, good, _ = res
            vals = [getattr(p, n) for n in names]

            def run(v):
                q = dataclasses.replace(p, **dict(zip(names, v, strict=True)))
                return _integrate(q, t, th, *config, varying=names)[0]

            dout = jax.jvp(run, (vals,), (list(dvalues),))[1]
            return jnp.where(good[:, None, None], dout, 0.0)

        def transpose(res, ct):
            p, t, th, good, steps = res
            ct = jnp.where(good[:, None, None], ct, 0.0)
            gp, _, _ = _solve_reverse_bwd(config, (p, t, th, good, steps), (ct, None, None))
            return [getattr(gp, n) for n in names]

        dvalues = [jnp.asarray(getattr(dparams, n)) for n in names]
        dout = jax.custom_derivatives.linear_call(forward, transpose, residual, dvalues)
    else:
        dout = jnp.zeros_like(out)
    if not isinstance(dts, SymbolicZero):
        dout = dout + _time_tangent(params, ts, therapy, out, status, dts)
    dstart = _moving_starts(tangents[2])
    if dstart is not None:  # the start days' columns, by forward sensitivities
        dout = dout + _forward_columns(params, ts, therapy, config, [], dparams, dstart)[1]
    no_tangent = [np.zeros(a.shape, dtype=jax.dtypes.float0) for a in (status, nsteps)]
    return (out, status, nsteps), (dout, *no_tangent)


_solve_auto.defjvp(_solve_auto_jvp, symbolic_zeros=True)


_SOLVERS = {"auto": _solve_auto, "forward": _solve, "reverse": _solve_reverse}


def _batch_size(params: Params) -> int:
    shapes = {jnp.shape(getattr(params, n)) for n in PARAMETER_NAMES}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ALSJaxError(
            "simulate_batch: every parameter needs one leading batch axis of the same "
            f"length, got shapes {sorted(shapes)}"
        )
    return next(iter(shapes))[0]


def simulate_batch(
    params: Params,
    ts: Float[ArrayLike, " T"] | Float[ArrayLike, "B T"],
    therapy: Therapy | None = None,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    max_steps: int = DEFAULT_MAX_STEPS,
    lanes: int | None = None,
    gradient: str = "auto",
) -> Solution:
    """Solve the cascade for a batch of parameter sets: `simulate` with a leading axis.

    **Arguments:**
    - `params`: `Params` whose every field has shape `(B,)`.
    - `ts`: output days, `(T,)` shared by all or `(B, T)`; each row sorted, >= 0.
    - `therapy`: None (no drug), or a `Therapy` with fields `(B, 4)` or `(4,)` (shared).
    - `rtol`, `atol`, `max_steps`: as in `simulate` (the step limit is per trajectory).
    - `lanes`: trajectories advanced side by side; a tuning knob, not a result. Default
      (`None`): `DEFAULT_LANES` (128) on a CPU, `ACCELERATOR_LANES` (65,536, a guess) on
      a GPU or TPU; never more than the batch.
    - `gradient`: `"auto"` (default: forward sensitivities under `jax.jvp` and
      `jax.jacfwd`; under `jax.grad` and `jax.vjp` forward sensitivities for up to
      `AUTO_FORWARD_MAX_PARAMS` differentiated parameters and the adjoint beyond),
      `"forward"` (forward sensitivities always: `jax.grad` and `jax.jacfwd`, cost about
      1.4 solves per differentiated parameter) or `"reverse"` (`jax.grad` only: the
      checkpointed adjoint of `simulate` on chunks sorted by step count, about 4-5 solves
      whatever the number of parameters).

    **Returns:** a `Solution` whose every field has a leading axis `B`, as
    `jax.vmap(simulate)` gives; a trajectory that fails (step limit, blow-up, collapsed
    step) has `success=False`, its reason in `status`, the states it reached and NaN after
    the failure; it frees its lane at once and leaves the others untouched.

    Pure: passes `jax.jit`, `jax.grad` and (with `"auto"` or `"forward"`) `jax.jacfwd`.
    Derivatives flow to `params`, `ts` and (with `"auto"` or `"forward"`) the drug start
    days, whose moves shift the jumps of the vector field (one forward sensitivity per
    drug, taken only where a start has a tangent); the drug switches get none. With
    `"reverse"` the derivative is that of `simulate`'s discretisation, which agrees with
    this solver's to the tolerance, and start days get none.
    """
    n = _batch_size(params)
    if not isinstance(ts, jax.core.Tracer):
        arr = np.asarray(ts, dtype=float)
        if arr.ndim == 2:
            for b, row in enumerate(arr):
                check_times(row, f"ts[{b}]")
        else:
            check_times(arr)
    ts = checked_times(jnp.asarray(ts, dtype=jnp.result_type(float)))
    if ts.ndim == 2 and ts.shape[0] != n:
        raise ALSJaxError(f"ts: expected {n} rows (one per parameter set), got {ts.shape[0]}")
    ts = jnp.broadcast_to(ts, (n, ts.shape[-1]))
    if therapy is None:
        zero = jnp.zeros((n, len(DRUGS)), ts.dtype)
        therapy = Therapy(on=zero, start=zero)
    else:
        therapy = Therapy(
            on=jnp.broadcast_to(therapy.on, (n, len(DRUGS))).astype(ts.dtype),
            start=jnp.broadcast_to(therapy.start, (n, len(DRUGS))).astype(ts.dtype),
        )
    if lanes is None:
        lanes = DEFAULT_LANES if jax.default_backend() == "cpu" else ACCELERATOR_LANES
    if int(lanes) < 1:
        raise ALSJaxError(f"lanes: expected a whole number >= 1, got {lanes!r}")
    config = (float(rtol), float(atol), int(max_steps), int(lanes))
    if gradient not in _SOLVERS:
        raise ALSJaxError(f"gradient: expected 'auto', 'forward' or 'reverse', got "
                          f"{gradient!r}")
    return _simulate_batch(params, ts, therapy, config, gradient)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _simulate_batch(params, ts, therapy, config, gradient) -> Solution:
    """One compiled program, so that a call outside `jax.jit` does not run (and compile)
    the preparation and the read-out operation by operation. Inside a caller's `jit` it is
    inlined; under `jax.jvp` unperturbed inputs keep symbolic-zero tangents, which
    `gradient="auto"` counts."""
    out, status, nsteps = _SOLVERS[gradient](params, ts, therapy, config)
    rates = jax.vmap(physical)(params)
    return jax.vmap(finish_solution)(ts, out, rates, status, nsteps)
