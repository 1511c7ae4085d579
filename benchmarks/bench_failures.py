"""Failing lanes: forward throughput on draws where every rate moves ±0.5 decade.

    python benchmarks/bench_failures.py [--n 1024] [--scipy 32]

Draws: every log-stored parameter of the sporadic preset (46 of 58: the rates and
constants) log-uniform over ±0.5 decade (seed 0); 10 years, 20 output times, rtol 1e-6,
atol 1e-9. `simulate_batch` forward, failures included: status counts, steps taken by
the solved and by the failed lanes, and throughput; scipy LSODA on a sample of the same
draws (failures included, a failed solve counts its time), per trajectory.
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

jax.config.update("jax_enable_x64", True)

import dataclasses  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import alsjax  # noqa: E402
from alsjax._params import parameter_transform  # noqa: E402
from alsjax._simulate import FAILURE_REASONS  # noqa: E402
from benchmarks import _problem as P  # noqa: E402

RATES = tuple(n for n in alsjax.PARAMETER_NAMES if parameter_transform(n).name == "log")


def draws(n, seed=0):
    base = P.base_params(n)
    u = np.random.default_rng(seed).uniform(-0.5, 0.5, (n, len(RATES))) * np.log(10.0)
    return dataclasses.replace(base, **{k: getattr(base, k) + jnp.asarray(u[:, j])
                                        for j, k in enumerate(RATES)})


def scipy_solve(p_row):
    ts = np.asarray(P.output_times())
    phys = alsjax.physical(p_row)
    rates = np.asarray([phys[k] for k in alsjax.PARAMETER_NAMES])
    y0 = np.concatenate([np.asarray(alsjax.initial_state(p_row)), np.zeros(3)])
    sol = solve_ivp(lambda t, y: np.asarray(P._field(t, y, rates)), (0.0, ts[-1]), y0,
                    method="LSODA", t_eval=ts, rtol=P.RTOL, atol=P.ATOL)
    return sol.success


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--scipy", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = args.n
    params = draws(n)
    ts = P.output_times()

    def run(p):
        sol = alsjax.simulate_batch(p, ts, rtol=P.RTOL, atol=P.ATOL)
        return sol.ys, sol.status, sol.num_steps

    t0 = time.perf_counter()
    exe = jax.jit(run).lower(params).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        _, status, steps = jax.block_until_ready(exe(params))
        times.append(time.perf_counter() - t0)
    sec = float(np.median(times))
    status, steps = np.asarray(status), np.asarray(steps)
    sample = [jax.tree.map(lambda a, i=i: a[i], params) for i in range(args.scipy)]
    scipy_solve(sample[0])
    s_times, s_ok = [], []
    for p in sample:
        t0 = time.perf_counter()
        s_ok.append(scipy_solve(p))
        s_times.append(time.perf_counter() - t0)
    s_med, s_mean = float(np.median(s_times)), float(np.mean(s_times))
    print(f"\n±0.5-decade draws of all {len(RATES)} log-stored parameters, N = {n}, "
          f"{os.cpu_count()} CPUs (shared machine)\n")
    print("| status | count | share | steps mean | steps max |")
    print("|---|---|---|---|---|")
    for code in np.unique(status):
        sel = status == code
        print(f"| {code}: {FAILURE_REASONS[code]} | {sel.sum()} | {sel.mean():.1%} | "
              f"{steps[sel].mean():.0f} | {steps[sel].max()} |")
    print(f"\n- simulate_batch: {sec:.3g} s per call (median of {args.repeats}), "
          f"{n / sec:,.0f} traj/s with failures included, compile {compile_s:.1f} s")
    print(f"- scipy LSODA: {1e3 * s_med:.1f} ms per trajectory median, {1e3 * s_mean:.1f} ms "
          f"mean ({args.scipy} draws, {sum(s_ok)} solved)")
    print(f"- ratio: {s_med / (sec / n):.0f}x scipy's median, {s_mean / (sec / n):.0f}x its mean")
    agree = np.mean(np.asarray(s_ok) == (status[:args.scipy] == 0))
    print(f"- success agrees with LSODA's on {agree:.0%} of the sample")


if __name__ == "__main__":
    main()
