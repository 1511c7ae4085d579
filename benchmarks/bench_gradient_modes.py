"""`jax.grad` over every parameter of a whole `Params` batch through `simulate_batch`:
gradient="auto" (the default) against the forced modes, and scipy finite differences.

    python benchmarks/bench_gradient_modes.py [--n 1024] [--n-forward 64] [--crossover]

Problem: the benchmark's draws (`_problem.py`: 13 rates log-uniform over one decade
around the sporadic preset), 10 years, 20 output times, rtol 1e-6, atol 1e-9; the loss is
the sum of squared states, differentiated with respect to all 58 stored parameters of
every trajectory. scipy: LSODA on the same vector field, forward differences (58 solves)
over every stored parameter, on a sample, per trajectory. Contenders run interleaved in
one process; medians of the repeats. `--crossover` also times forward sensitivities and
the adjoint for k = 1..6 differentiated parameters (where "auto" switches).
"""

import os
import sys

if os.environ.get("OPENBLAS_CORETYPE") is not None or os.environ.get("OPENBLAS_L2_SIZE"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import alsjax  # noqa: E402
from benchmarks import _problem as P  # noqa: E402


def grad_all(n, mode):
    ts = P.output_times()

    def loss(p):
        sol = alsjax.simulate_batch(p, ts, rtol=P.RTOL, atol=P.ATOL, gradient=mode)
        return jnp.sum(P.loss_of_states(sol.ys))

    return jax.jit(jax.grad(loss))


def grad_k(k, mode):
    """Gradient with respect to the first k of the benchmark's 13 log-rates."""
    ts = P.output_times()

    def loss(th, base):
        moved = {name: getattr(base, name) + th[:, j] for j, name in enumerate(P.VARY[:k])}
        sol = alsjax.simulate_batch(dataclasses.replace(base, **moved), ts, rtol=P.RTOL,
                                    atol=P.ATOL, gradient=mode)
        return jnp.sum(P.loss_of_states(sol.ys))

    return jax.jit(jax.grad(loss))


def timed(fns, args, repeats=3):
    """Interleaved repeats: median seconds per call of each fn (already compiled)."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(*args[k]))
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def compile_all(fns, args):
    out = {}
    for k, f in fns.items():
        t0 = time.perf_counter()
        fns[k] = f.lower(*args[k]).compile()
        out[k] = time.perf_counter() - t0
    return out


def scipy_fd_all(params_row, h=1e-6):
    """Forward differences of the loss over every stored parameter (58 LSODA solves)."""
    ts = np.asarray(P.output_times())
    names = alsjax.PARAMETER_NAMES
    stored = np.array([float(getattr(params_row, k)) for k in names])

    def loss(vec):
        p = alsjax.Params(**dict(zip(names, jnp.asarray(vec), strict=True)))
        phys = alsjax.physical(p)
        rates = np.asarray([phys[k] for k in names])
        y0 = np.concatenate([np.asarray(alsjax.initial_state(p)), np.zeros(3)])
        sol = solve_ivp(lambda t, y: np.asarray(P._field(t, y, rates)), (0.0, ts[-1]), y0,
                        method="LSODA", t_eval=ts, rtol=P.RTOL, atol=P.ATOL)
        return float(np.sum(sol.y.T[:, :15] ** 2)) if sol.success else np.nan

    l0 = loss(stored)
    g = np.empty(len(names))
    for j in range(len(names)):
        moved = stored.copy()
        moved[j] += h
        g[j] = (loss(moved) - l0) / h
    return g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--n-forward", type=int, default=64)
    ap.add_argument("--scipy", type=int, default=4, help="draws for the FD timing")
    ap.add_argument("--crossover", action="store_true")
    args = ap.parse_args()
    n, nf = args.n, args.n_forward
    params = P.with_offsets(P.base_params(n), jnp.asarray(P.offsets(n)))
    small = jax.tree.map(lambda a: a[:nf], params)
    fns = {f"auto N={n}": grad_all(n, "auto"), f"reverse N={n}": grad_all(n, "reverse"),
           f"auto N={nf}": grad_all(nf, "auto"), f"forward N={nf}": grad_all(nf, "forward")}
    fargs = {k: ((params,) if f"N={n}" in k else (small,)) for k in fns}
    comp = compile_all(fns, fargs)
    med = timed(fns, fargs)
    g_auto = np.stack([np.asarray(getattr(x, k)) for x in [fns[f"auto N={n}"](params)]
                       for k in alsjax.PARAMETER_NAMES], axis=-1)
    g_fwd = np.stack([np.asarray(getattr(fns[f"forward N={nf}"](small), k))
                      for k in alsjax.PARAMETER_NAMES], axis=-1)
    rows = []
    t0 = time.perf_counter()
    fd = [scipy_fd_all(jax.tree.map(lambda a, i=i: a[i], params)) for i in range(args.scipy)]
    fd_s = (time.perf_counter() - t0) / args.scipy
    fd = np.stack(fd)
    print(f"\njax.grad over all {len(alsjax.PARAMETER_NAMES)} stored parameters, "
          f"{jax.devices()[0].device_kind}, {os.cpu_count()} CPUs (shared machine)\n")
    print("| contender | N | s per call | ms per traj | x scipy FD | compile s |")
    print("|---|---|---|---|---|---|")
    for k, s in med.items():
        m = int(k.split("N=")[1])
        rows.append((k, m, s))
        print(f"| {k.split(' N=')[0]} | {m} | {s:.3g} | {1e3 * s / m:.3g} | "
              f"{fd_s / (s / m):.0f} | {comp[k]:.1f} |")
    print(f"| scipy LSODA + forward differences (58 solves) | {args.scipy} | | "
          f"{1e3 * fd_s:.0f} | 1 | |")
    scale = np.abs(fd).max(axis=1, keepdims=True)
    print(f"\n- auto vs forward (first {nf} draws): max |diff| / max |g| = "
          f"{np.abs(g_auto[:nf] - g_fwd).max() / np.abs(g_fwd).max():.2g}")
    print(f"- auto vs scipy FD (first {args.scipy} draws, per draw scaled): "
          f"{np.nanmax(np.abs(g_auto[:args.scipy] - fd) / scale):.2g}")
    print(f"- auto N={nf} / forward N={nf}: {med[f'forward N={nf}'] / med[f'auto N={nf}']:.1f}x")
    if args.crossover:
        print("\n| k parameters | forward ms/traj | reverse ms/traj | auto picks |")
        print("|---|---|---|---|")
        m = 256
        base = P.base_params(m)
        for k in (1, 2, 3, 4, 6):
            th = jnp.asarray(P.offsets(m)[:, :k])
            cf = {"f": grad_k(k, "forward"), "r": grad_k(k, "reverse")}
            ca = {c: (th, base) for c in cf}
            compile_all(cf, ca)
            t = timed(cf, ca, repeats=2)
            pick = "forward" if k <= alsjax._batch.AUTO_FORWARD_MAX_PARAMS else "reverse"
            print(f"| {k} | {1e3 * t['f'] / m:.3g} | {1e3 * t['r'] / m:.3g} | {pick} |",
                  flush=True)


if __name__ == "__main__":
    main()
