"""The lane-queue solver's step: hand-written Tsit5 + I controller vs diffrax's public API.

`alsjax._batch._integrate` steps each lane with a hand-copied Tsit5 tableau, initial step
and PID constants. This file holds a copy of that lane loop (forward only, no therapy
jumps are exercised by the problem but the jump logic is kept) in two variants:

- `hand`: today's step (`_tsit5`, `_first_step`, the controller written out);
- `diffrax`: each lane steps with `diffrax.Tsit5().step` (first stage carried as the
  solver's FSAL state, `made_jump` after a drug start) and `diffrax.PIDController`'s
  `init` (initial step) and `adapt_step_size` (accept/reject and the next step).

Problem: `python -m benchmarks`' (benchmarks/_problem.py: the sporadic preset with 13
rates drawn over one decade, 20 output times over 10 years, rtol 1e-6, atol 1e-9),
float64, N = 256 and 4096, 256 lanes. Compile time by `jax.jit(f).lower(x).compile()`
after an untimed warm-up of every variant at N = 2; then one untimed call each and
`--repeats` calls alternating between the variants; the median. Also the largest
relative difference between the variants' outputs (per trajectory and component:
max over times of |a - b| / max_t |a|), over the 15 model states and, apart, over the 3
event clocks (sharp sigmoids of the states, so they move most with the step sequence).

`--lax` adds a third variant, `diffrax-lax`: the same with `Tsit5(scan_kind="lax")` (the
stage loop as a plain `lax.while_loop` instead of diffrax's default checkpointed one).

Usage: python benchmarks/bench_diffrax_stepping.py [--ns 256 4096] [--repeats 5] [--lax]
"""

import os
import sys

# Timing must not depend on a tuned OpenBLAS: unset for this process only (re-exec).
if os.environ.get("OPENBLAS_CORETYPE") is not None or os.environ.get("OPENBLAS_L2_SIZE"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

if __package__ in (None, ""):  # `python benchmarks/bench_diffrax_stepping.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from alsjax._batch import _ERROR_ORDER, _FACTORMAX, _FACTORMIN, _SAFETY, _first_step, _rms, _tsit5  # noqa: E402
from alsjax._model import initial_state  # noqa: E402
from alsjax._params import physical  # noqa: E402
from alsjax._simulate import augmented_field  # noqa: E402
from alsjax._therapy import DRUGS, Therapy  # noqa: E402
from benchmarks import _problem as P  # noqa: E402

VARIANTS = ("hand", "diffrax")
LANES = 256
MAX_STEPS = 4096
N_EVENTS = 3  # event clocks appended to the state (alsjax._observables.EVENT_NAMES)

_TERM = diffrax.ODETerm(lambda t, y, args: augmented_field(t, y, args))
_SOLVERS = {"diffrax": diffrax.Tsit5(), "diffrax-lax": diffrax.Tsit5(scan_kind="lax")}


def integrate(params, ts, therapy, rtol, atol, max_steps, lanes, stepping):
    """`alsjax._batch._integrate`'s lane loop; `stepping` picks the step of each lane."""
    n_traj, n_times = ts.shape
    dtype = ts.dtype
    rates = jax.vmap(physical)(params)
    y0 = jax.vmap(initial_state)(params).astype(dtype)
    y0 = jnp.concatenate([y0, jnp.zeros((n_traj, N_EVENTS), dtype)], axis=-1)
    n_y = y0.shape[-1]
    jumps = jnp.where(therapy.on > 0, therapy.start, -1.0).astype(dtype)
    controller = diffrax.PIDController(rtol=rtol, atol=atol)
    solver = _SOLVERS.get(stepping, _SOLVERS["diffrax"])
    error_order = solver.error_order(_TERM)

    def args_of(i):
        return (jax.tree.map(lambda v: v[i], rates), jax.tree.map(lambda v: v[i], therapy))

    def field(i):  # the vector field of trajectory i, for vmap over lanes
        args = args_of(i)
        return lambda t, y: augmented_field(t, y, args)

    zero = jnp.zeros((), dtype)
    f0 = jax.vmap(lambda i: field(i)(zero, y0[i]))(jnp.arange(n_traj))
    if stepping == "hand":
        h0 = jax.vmap(lambda i, y, k: _first_step(field(i), y, k, rtol, atol))(
            jnp.arange(n_traj), y0, f0)
        c0 = jnp.zeros((n_traj, 2), dtype)  # unused
    else:
        def init(i, y):
            t1, (inv, prev_inv, _) = controller.init(
                _TERM, zero, ts[i, -1], y, None, args_of(i), solver.func, error_order)
            return t1 - zero, jnp.stack([inv, prev_inv])

        h0, c0 = jax.vmap(init)(jnp.arange(n_traj), y0)
    h0 = jax.lax.stop_gradient(h0)
    lanes = min(lanes, n_traj)
    inf = jnp.asarray(jnp.inf, dtype)

    def lane_step(i, t, y, k1, dt, k, ctrl, stale):
        target = ts[i, k]
        jump = jnp.min(jnp.where(jumps[i] > t, jumps[i], inf))
        at_jump = jump <= target
        target = jnp.where(at_jump, jnp.nextafter(jump, -inf), target)
        clipped = dt >= target - t
        h = jnp.where(clipped, target - t, dt)
        t_end = jnp.where(clipped, target, t + h)
        if stepping == "hand":
            y1, y_err, k7 = _tsit5(field(i), t, y, k1, h, t_end)
            bad = jnp.any(jnp.isnan(y1))
            scale = atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(jnp.where(bad, y, y1)))
            err = jax.lax.stop_gradient(_rms(y_err / scale))
            keep = err < 1
            factor = jnp.clip(
                _SAFETY * (1 / err) ** (1 / _ERROR_ORDER),
                jnp.where(keep, 1.0, _FACTORMIN),
                jnp.where(keep, _FACTORMAX, _SAFETY),
            )
            dt_new = factor * h
        else:
            args = args_of(i)
            # The FSAL state carries the first stage; a drug start invalidates it.
            y1, y_err, _, (_, k7), _ = solver.step(
                _TERM, t, t_end, y, args, (jnp.asarray(False), k1), stale)
            keep, t0n, t1n, _, (inv, prev_inv, _), _ = controller.adapt_step_size(
                t, t_end, y, y1, args, y_err, error_order, (ctrl[0], ctrl[1], False))
            dt_new = t1n - t0n
            ctrl = jnp.stack([inv, prev_inv])
        dt_next = jnp.where(keep & clipped, jnp.maximum(dt_new, dt), dt_new)
        jumped = keep & clipped & at_jump
        t_new = jnp.where(keep, jnp.where(jumped, jump, t_end), t)
        return (
            t_new,
            jnp.where(keep, y1, y),
            jnp.where(keep, k7, k1),
            jax.lax.stop_gradient(dt_next),
            ctrl,
            jumped,
        )

    lane_step = jax.vmap(lane_step)

    def body(carry):
        idx, t, y, k1, dt, ctrl, k, steps, stale, queue, out, ok, nsteps = carry
        live = idx < n_traj
        i = jnp.where(live, idx, 0)
        k_safe = jnp.minimum(k, n_times - 1)
        if stepping == "hand":
            # After a drug start the first stage is stale (FSAL): recompute it, rarely.
            def restart():
                return jnp.where(stale[:, None],
                                 jax.vmap(lambda i, t, y: field(i)(t, y))(i, t, y), k1)

            k1 = jax.lax.cond(jnp.any(stale), restart, lambda: k1)
        t, y, k1, dt, ctrl, stale = lane_step(i, t, y, k1, dt, k_safe, ctrl, stale)
        steps = steps + 1
        k_new = jnp.sum(ts[i] <= t[:, None], axis=-1, dtype=jnp.int32)
        write = live & (k_new > k)
        row = jnp.where(write, idx * n_times + k_safe, n_traj * n_times + lane)
        out = out.at[row].set(y, mode="drop", unique_indices=True)
        k = jnp.maximum(k, k_new)
        done = k >= n_times
        failed = ~done & (steps >= max_steps)
        finish = live & (done | failed)
        where_done = jnp.where(finish, idx, n_traj)
        ok = ok.at[where_done].set(done, mode="drop")
        nsteps = nsteps.at[where_done].set(steps, mode="drop")
        rank = jnp.cumsum(finish, dtype=jnp.int32) - 1
        new = jnp.where(finish, jnp.minimum(queue + rank, n_traj), idx)
        queue = queue + jnp.sum(finish, dtype=jnp.int32)
        fresh = finish & (new < n_traj)
        j = jnp.where(fresh, new, 0)

        def sel(a, b):
            return jnp.where(fresh.reshape(-1, *([1] * (a.ndim - 1))), a, b)

        return (
            new,
            sel(jnp.zeros_like(t), t),
            sel(y0[j], y),
            sel(f0[j], k1),
            sel(h0[j], dt),
            sel(c0[j], ctrl),
            sel(jnp.zeros_like(k), k),
            sel(jnp.zeros_like(steps), steps),
            stale & ~fresh,
            queue,
            out,
            ok,
            nsteps,
        )

    first = lane = jnp.arange(lanes)
    carry = (
        first,
        jnp.zeros(lanes, dtype),
        y0[first],
        f0[first],
        h0[first],
        c0[first],
        jnp.zeros(lanes, jnp.int32),
        jnp.zeros(lanes, jnp.int32),
        jnp.zeros(lanes, bool),
        jnp.asarray(lanes, jnp.int32),
        jnp.full((n_traj * n_times, n_y), jnp.nan, dtype),
        jnp.zeros(n_traj, bool),
        jnp.zeros(n_traj, jnp.int32),
    )
    carry = jax.lax.while_loop(lambda c: jnp.any(c[0] < n_traj), body, carry)
    out, ok, nsteps = carry[-3:]
    return out.reshape(n_traj, n_times, n_y), ok, nsteps


def forward(n: int, stepping: str):
    base = P.base_params(n)
    ts = jnp.broadcast_to(P.output_times(), (n, P.N_TIMES))
    zero = jnp.zeros((n, len(DRUGS)), ts.dtype)
    therapy = Therapy(on=zero, start=zero)

    def run(theta):
        return integrate(P.with_offsets(base, theta), ts, therapy, P.RTOL, P.ATOL, MAX_STEPS,
                         LANES, stepping)

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ns", type=int, nargs="+", default=[256, 4096])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--lax", action="store_true", help="also Tsit5(scan_kind='lax')")
    a = ap.parse_args()
    variants = VARIANTS + (("diffrax-lax",) if a.lax else ())
    print(f"# bench_diffrax_stepping: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs (shared with other work: timings are noisy, compare the "
          f"ratios), jax {jax.__version__}, diffrax {diffrax.__version__}, float64, "
          f"{LANES} lanes, rtol {P.RTOL:g}, atol {P.ATOL:g}", flush=True)
    t_all = time.perf_counter()
    # Untimed warm-up of both variants at a tiny N, so that the first compile timed below
    # does not carry JAX's one-off start-up costs.
    for v in variants:
        jax.block_until_ready(jax.jit(forward(2, v))(jnp.asarray(P.offsets(2))))
    rows = []
    for n in a.ns:
        theta = jnp.asarray(P.offsets(n))
        exe, comp, outs = {}, {}, {}
        for v in variants:
            t0 = time.perf_counter()
            exe[v] = jax.jit(forward(n, v)).lower(theta).compile()
            comp[v] = time.perf_counter() - t0
            outs[v] = jax.block_until_ready(exe[v](theta))  # untimed: one-off allocations
        times = {v: [] for v in variants}
        for _ in range(a.repeats):
            for v in variants:  # alternate: A B A B ...
                t0 = time.perf_counter()
                jax.block_until_ready(exe[v](theta))
                times[v].append(time.perf_counter() - t0)
        ya = np.asarray(outs["hand"][0])
        scale = np.abs(ya).max(axis=1, keepdims=True) + 1e-12
        for v in variants:
            _, ok, ns = outs[v]
            rel = np.abs(np.asarray(outs[v][0]) - ya) / scale
            rel = np.where(np.isnan(rel), np.inf, rel).max(axis=(0, 1))
            med = statistics.median(times[v])
            rows.append(dict(n=n, v=v, compile=comp[v], med=med, rate=n / med,
                             ok=int(np.sum(ok)), steps=float(np.mean(ns)),
                             rel=float(rel[:-N_EVENTS].max()),
                             rel_clock=float(rel[-N_EVENTS:].max())))
        print(f"  N={n}: " + ", ".join(f"{v} {[round(t, 3) for t in times[v]]}"
                                       for v in variants), flush=True)
    print("\n| N | stepping | compile s | s per call (median) | traj/s | ratio to hand | "
          "ok | mean steps | max rel diff to hand: states | event clocks |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        hand = next(h for h in rows if h["n"] == r["n"] and h["v"] == "hand")
        print(f"| {r['n']} | {r['v']} | {r['compile']:.2f} | {r['med']:.3f} | "
              f"{r['rate']:,.0f} | {r['rate'] / hand['rate']:.3f} | {r['ok']}/{r['n']} | "
              f"{r['steps']:.1f} | {r['rel']:.1e} | {r['rel_clock']:.1e} |")
    worst = min(r["rate"] / next(h for h in rows if h["n"] == r["n"] and h["v"] == "hand")["rate"]
                for r in rows if r["v"] == "diffrax")
    print(f"\n- Slowest diffrax/hand throughput ratio: {worst:.3f}. Rule (within 10%): "
          f"{'adopt diffrax stepping' if worst >= 0.9 else 'keep the hand-written step'}")
    print(f"- Whole run: {time.perf_counter() - t_all:.0f} s.")


if __name__ == "__main__":
    main()
