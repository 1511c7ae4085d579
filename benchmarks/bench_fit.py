"""The same fit with scipy and with each alsjax optimiser: wall time and objective.

Problem: the shipped default fit (data/synthetic/small_human.csv, 4 subjects, 60 rows),
estimating apoptotic_death_rate and nfl_release with the noise SDs fixed at alsjax's
defaults (so the objective is a plain weighted least squares that scipy can minimise
too), from the same 4 scrambled-Sobol starts within the same bounds.

- scipy: `least_squares` (trf, bounds, 2-point finite differences) on `solve_ivp`
  (RK45, rtol 1e-6, atol 1e-9; the cascade's vector field from alsjax, jitted, called
  per right-hand-side evaluation), one solve per subject, starts one after another.
- alsjax: `alsjax.fit` with lm / lbfgs / adam (all starts in one compiled program); the
  first run includes compilation, the second reuses it.

Every final point is scored by the same alsjax objective (negative log-likelihood).
Usage: python benchmarks/bench_fit.py [--starts 4]
"""

import os
import sys

# Timing must not depend on a tuned OpenBLAS: unset for this process only (re-exec).
if os.environ.get("OPENBLAS_CORETYPE") is not None or os.environ.get("OPENBLAS_L2_SIZE"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.flatten_util  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402
from scipy.optimize import least_squares  # noqa: E402

import alsjax  # noqa: E402
from alsjax import fit, make_data  # noqa: E402
from alsjax._noise import default_noise_sd  # noqa: E402
from alsjax._observables import observables  # noqa: E402
from alsjax._params import physical  # noqa: E402
from alsjax._problem import make_problem, neg_log_posterior, sobol_starts, to_stored  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ESTIMATE = ("apoptotic_death_rate", "nfl_release")
BOUNDS = {"apoptotic_death_rate": (0.002, 0.03), "nfl_release": (300.0, 15000.0)}


def scipy_fit(df, thetas, lower, upper, sd):
    """least_squares on solve_ivp, finite-difference Jacobian, one start at a time."""
    base = alsjax.default_params()
    # The parameters travel as one packed vector: passing the 56-leaf Params pytree to
    # the jitted RHS costs ~240 us a call and would handicap scipy five-fold.
    _, unravel = jax.flatten_util.ravel_pytree(base)
    rhs = jax.jit(lambda t, y, v: alsjax.vector_field(t, y, unravel(v)))
    obs_fn = jax.jit(lambda y, p: observables(y, physical(p)))
    subjects = [g for _, g in df.groupby("subject", sort=False)]
    y0 = np.asarray(alsjax.initial_state(base))
    k_sd = {k: float(sd[alsjax.OBSERVABLE_NAMES.index(k)]) for k in alsjax.OBSERVABLE_NAMES}
    n_solves = [0]

    def residuals(theta):
        p = base
        for name, v in zip(ESTIMATE, theta, strict=True):
            p = p.replace(**{name: math.exp(v)})
        packed = np.asarray(jax.flatten_util.ravel_pytree(p)[0])
        out = []
        for g in subjects:
            ts = np.unique(g["time"].to_numpy(float))
            sol = solve_ivp(lambda t, y: np.asarray(rhs(t, y, packed)), (0.0, ts[-1]), y0,
                            method="RK45", t_eval=ts, rtol=1e-6, atol=1e-9)
            n_solves[0] += 1
            if not sol.success:
                return np.full(len(df), 1e3)
            ob = obs_fn(jnp.asarray(sol.y.T), p)
            for t, k, v in zip(g["time"], g["observable"], g["value"], strict=True):
                f = float(np.asarray(ob[k])[np.searchsorted(ts, t)])
                out.append((v - f) / k_sd[k])
        return np.asarray(out)

    best, t0 = None, time.perf_counter()
    for th in thetas:
        r = least_squares(residuals, th, bounds=(lower, upper), method="trf",
                          jac="2-point", xtol=1e-8, ftol=1e-8, gtol=1e-8)
        if best is None or r.cost < best.cost:
            best = r
    return best.x, time.perf_counter() - t0, n_solves[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=4)
    ap.add_argument("--scipy-only", action="store_true",
                    help="Only the scipy fit (bench_startup.py times it as a whole process).")
    args = ap.parse_args()
    df = alsjax.read_measurements(ROOT / "data/synthetic/small_human.csv")
    data = make_data(df)
    # All-gaussian noise with fixed SDs: the objective scipy minimises too.
    pb, _, _ = make_problem(data, ESTIMATE, bounds=BOUNDS, noise="gaussian", estimate_noise=False,
                            max_steps=60)
    z0 = sobol_starts(args.starts, pb, seed=0)
    thetas = np.asarray(jax.vmap(lambda z: to_stored(z, pb))(jnp.asarray(z0)))
    score = jax.jit(lambda th: neg_log_posterior(th, pb))
    rows = []
    theta_s, wall_s, n_solves = scipy_fit(df, thetas, np.asarray(pb.lower),
                                          np.asarray(pb.upper), default_noise_sd("gaussian"))
    obj_s = float(score(jnp.asarray(theta_s)))
    rows.append(("scipy least_squares + solve_ivp (FD)", wall_s, None, obj_s,
                 np.exp(theta_s)))
    for opt in () if args.scipy_only else ("lm", "lbfgs", "adam"):
        kw = dict(bounds=BOUNDS, optimiser=opt, noise="gaussian", estimate_noise=False, starts=z0,
                  max_steps=60 if opt != "adam" else 300, progress=False)
        t0 = time.perf_counter()
        fit(data, ESTIMATE, **kw)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = fit(data, ESTIMATE, **kw)
        warm = time.perf_counter() - t0
        rows.append((f"alsjax {opt}", warm, first, r.objective,
                     np.array([r.estimates[n] for n in ESTIMATE])))
    print(f"# bench_fit: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, jax {jax.__version__}, {args.starts} starts, "
          f"scipy: {n_solves} solve_ivp calls")
    print("| method | wall s (warm) | wall s (first, with compile) | objective | "
          "time / scipy | objective - scipy | apoptotic_death_rate | nfl_release |")
    print("|---|---|---|---|---|---|---|---|")
    for name, wall, first, obj, est in rows:
        print(f"| {name} | {wall:.2f} | {'-' if first is None else f'{first:.2f}'} | "
              f"{obj:.6f} | {wall / wall_s:.3f} | {obj - obj_s:+.2e} | {est[0]:.5g} | "
              f"{est[1]:.5g} |")


if __name__ == "__main__":
    main()
