"""How close `simulate_batch` comes to this CPU's limit for this model.

    python benchmarks/bench_roofline.py [--n 4096] [--png benchmarks/roofline.png]

The limit: a Tsit5 step of one lane needs 6 evaluations of the vector field (7 stages,
first-same-as-last). The cost of one evaluation, vectorised over L lanes as the lane
queue does it (`jax.vmap(augmented_field)` over L states and L rate sets, inside a
compiled loop so that no dispatch is counted), sets the floor: 6 evaluations per lane
step. The solver's cost of a lane step is its wall time over the steps all lanes took
(accepted and rejected, `Solution.num_steps`) on the benchmark problem (`_problem.py`).
The fraction of the limit reached is floor / measured. Prints a table; saves a figure.
"""

import os
import sys

if os.environ.get("OPENBLAS_CORETYPE") is not None or os.environ.get("OPENBLAS_L2_SIZE"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402

if "--float32" not in sys.argv:
    jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import alsjax  # noqa: E402
from alsjax._simulate import augmented_field  # noqa: E402
from alsjax._therapy import Therapy  # noqa: E402
from benchmarks import _problem as P  # noqa: E402

EVALS_PER_STEP = 6
REPS = 200  # evaluations per compiled call of the field benchmark


def field_cost(params, lanes, repeats=15):
    """Seconds per vector-field evaluation per lane, vectorised over `lanes` lanes."""
    p = jax.tree.map(lambda a: a[:lanes], params)
    rates = jax.vmap(alsjax.physical)(p)
    dtype = jnp.result_type(float)
    zero = jnp.zeros((lanes, 4), dtype)
    therapy = Therapy(on=zero, start=zero)
    y0 = jnp.concatenate([jax.vmap(alsjax.initial_state)(p).astype(dtype),
                          jnp.zeros((lanes, 3), dtype)], axis=-1)
    f = jax.vmap(lambda t, y, r, th: augmented_field(t, y, (r, th)))

    def loop(y, rates):
        def body(i, y):  # each evaluation depends on the last: nothing is hoisted
            t = jnp.full((lanes,), 100.0, dtype) + i.astype(dtype)
            return y + 1e-3 * f(t, y, rates, therapy)

        return jax.lax.fori_loop(0, REPS, body, y)

    exe = jax.jit(loop).lower(y0, rates).compile()
    jax.block_until_ready(exe(y0, rates))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(exe(y0, rates))
        times.append(time.perf_counter() - t0)
    # The minimum, not the median: on a shared machine the median of this short call moved
    # 2x within an hour (benchmarks/RESULTS.md, 2026-12-03); both costs use the same rule.
    return float(np.min(times)) / (REPS * lanes)


def solver_cost(params, lanes, repeats=5):
    """Seconds per lane step of simulate_batch, and the steps taken."""
    ts = P.output_times()

    def run(p):
        sol = alsjax.simulate_batch(p, ts, rtol=P.RTOL, atol=P.ATOL, lanes=lanes)
        return sol.ys, sol.num_steps

    exe = jax.jit(run).lower(params).compile()
    _, steps = jax.block_until_ready(exe(params))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(exe(params))
        times.append(time.perf_counter() - t0)
    sec = float(np.min(times))
    return sec / float(np.sum(np.asarray(steps))), sec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--lanes", default="64,256,1024")
    ap.add_argument("--png", default=str(Path(__file__).with_name("roofline.png")))
    ap.add_argument("--float32", action="store_true")
    args = ap.parse_args()
    n = args.n
    params = P.with_offsets(P.base_params(n), jnp.asarray(P.offsets(n)))
    rows = []
    for lanes in (int(x) for x in args.lanes.split(",")):
        c_f = field_cost(params, lanes)
        c_step, sec = solver_cost(params, lanes)
        floor = EVALS_PER_STEP * c_f
        rows.append((lanes, c_f, floor, c_step, sec))
        print(f"lanes {lanes}: field {1e9 * c_f:.0f} ns/lane, floor {1e9 * floor:.0f} ns/step, "
              f"solver {1e9 * c_step:.0f} ns/step ({n / sec:,.0f} traj/s)", flush=True)
    dtype = "float32" if args.float32 else "float64"
    print(f"\nRoofline, {dtype}, N = {n}, {os.cpu_count()} CPUs (shared machine)\n")
    print("| lanes | field eval ns per lane | floor ns per lane step (6 evals) | solver ns per "
          "lane step | fraction of the limit | traj/s | traj/s at the limit |")
    print("|---|---|---|---|---|---|---|")
    for lanes, c_f, floor, c_step, sec in rows:
        steps = sec / c_step
        print(f"| {lanes} | {1e9 * c_f:.0f} | {1e9 * floor:.0f} | {1e9 * c_step:.0f} | "
              f"{floor / c_step:.0%} | {n / sec:,.0f} | {n / (floor * steps):,.0f} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [1e9 * r[2] for r in rows], 0.4, label="floor: 6 field evaluations")
    ax.bar(x + 0.2, [1e9 * r[3] for r in rows], 0.4, label="simulate_batch lane step")
    for i, r in enumerate(rows):
        ax.text(i + 0.2, 1e9 * r[3], f"{r[2] / r[3]:.0%}", ha="center", va="bottom")
    ax.set_ylim(0, 1.3e9 * max(max(r[2], r[3]) for r in rows))
    ax.set_xticks(x, [f"{r[0]} lanes" for r in rows])
    ax.set_ylabel("ns per lane step")
    ax.set_title(f"Tsit5 lane step against its floor ({dtype}, N = {n}, CPU)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.png, dpi=120)
    print(f"\nfigure: {args.png}")


if __name__ == "__main__":
    main()
