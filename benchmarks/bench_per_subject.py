"""Per-subject fits per second: alsjax's one batch against a scipy loop, on the shipped
population cohort (data/synthetic/population.csv, 200 subjects, genotypes and riluzole
arms mixed).

Problem: each subject's apoptotic_death_rate and nfl_release, its ALSFRS-R and NfL rows
(the death rows left out, so that scipy's objective is the same plain weighted least
squares), noise SDs fixed at the generator's (ALSFRS-R 1.5 points, NfL CV 0.15,
log-normal), bounds as fit/population.toml, the same scrambled-Sobol starts.

- scipy: `least_squares` (trf, bounds, 2-point finite differences) on `solve_ivp` (RK45,
  rtol 1e-6, atol 1e-9; the cascade's vector field from alsjax, jitted, the rates packed
  in one vector as bench_fit.py does), subject after subject, start after start, on a
  sample of subjects; fits per second = subjects / wall.
- alsjax: `fit_per_subject` over every subject at once (first run with compilation, then
  warm), on 1 device and, with `--host-devices N`, on N host devices with each sharding.

Every subject's final point is scored by the same alsjax objective.
Usage: python benchmarks/bench_per_subject.py [--starts 4] [--scipy-subjects 3]
       [--host-devices 2] [--repeats 3]
"""

import os
import sys

if __name__ == "__main__" and "--host-devices" in sys.argv:
    # Split the CPU into host devices; must be set before JAX initialises.
    n = sys.argv[sys.argv.index("--host-devices") + 1]
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={n}")

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
from alsjax._observables import observables  # noqa: E402
from alsjax._params import physical  # noqa: E402
from alsjax._persubject import fit_per_subject, subject_problems  # noqa: E402
from alsjax._problem import neg_log_posterior, sobol_starts, to_stored  # noqa: E402
from alsjax._therapy import Therapy, parse_therapy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ESTIMATE = ("apoptotic_death_rate", "nfl_release")
BOUNDS = {"apoptotic_death_rate": (0.002, 0.03), "nfl_release": (300.0, 15000.0)}
NOISE_SD = {"alsfrs_r": 1.5, "nfl": 0.15}


def scipy_fit_subject(g, thetas, lower, upper):
    """One subject: least_squares from each start on solve_ivp; the best point."""
    genotype, therapy = str(g["genotype"].iat[0]), str(g["therapy"].iat[0])
    base = alsjax.default_params(genotype)
    _, unravel = jax.flatten_util.ravel_pytree(base)
    drugs = parse_therapy(therapy) if therapy else parse_therapy("")
    y0 = np.asarray(alsjax.initial_state(base))
    ts = np.unique(g["time"].to_numpy(float))
    n_solves = [0]

    def residuals(theta):
        p = base
        for name, v in zip(ESTIMATE, theta, strict=True):
            p = p.replace(**{name: math.exp(v)})
        packed = np.asarray(jax.flatten_util.ravel_pytree(p)[0])
        sol = solve_ivp(lambda t, y: np.asarray(_RHS(t, y, packed, drugs.on, drugs.start)),
                        (0.0, ts[-1]), y0, method="RK45", t_eval=ts, rtol=1e-6, atol=1e-9)
        n_solves[0] += 1
        if not sol.success:
            return np.full(len(g), 1e3)
        ob = _OBS(jnp.asarray(sol.y.T), p)
        out = []
        for t, k, v in zip(g["time"], g["observable"], g["value"], strict=True):
            f = float(np.asarray(ob[k])[np.searchsorted(ts, t)])
            out.append(math.log(v / f) / NOISE_SD[k] if k == "nfl" else (v - f) / NOISE_SD[k])
        return np.asarray(out)

    best = None
    for th in thetas:
        r = least_squares(residuals, th, bounds=(lower, upper), method="trf",
                          jac="2-point", xtol=1e-8, ftol=1e-8, gtol=1e-8)
        if best is None or r.cost < best.cost:
            best = r
    return best.x, n_solves[0]


_UNRAVEL = jax.flatten_util.ravel_pytree(alsjax.default_params())[1]
_RHS = jax.jit(lambda t, y, v, on, start: alsjax.vector_field(t, y, _UNRAVEL(v),
                                                               Therapy(on, start)))
_OBS = jax.jit(lambda y, p: observables(y, physical(p)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=4)
    ap.add_argument("--max-steps", type=int, default=60)
    ap.add_argument("--scipy-subjects", type=int, default=3)
    ap.add_argument("--subjects", type=int, default=None, help="first N subjects only")
    ap.add_argument("--host-devices", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="warm runs of each, interleaved")
    args = ap.parse_args()
    df = alsjax.read_measurements(ROOT / "data/synthetic/population.csv")
    df = df[df["observable"].isin(["alsfrs_r", "nfl"])].reset_index(drop=True)
    if args.subjects:
        keep = df["subject"].drop_duplicates().iloc[:args.subjects]
        df = df[df["subject"].isin(keep)].reset_index(drop=True)
    data = alsjax.make_data(df)
    S = data.n_subjects
    kw = dict(bounds=BOUNDS, noise_sd=NOISE_SD, n_starts=args.starts,
              max_steps=args.max_steps, progress=False)
    pb, _ = subject_problems(data, ESTIMATE, bounds=BOUNDS, noise_sd=NOISE_SD)
    one = jax.tree.map(lambda x: x[0], pb)
    z0 = sobol_starts(args.starts, one, seed=0)
    thetas = np.asarray(jax.vmap(lambda z: to_stored(z, one))(jnp.asarray(z0)))
    score = jax.jit(jax.vmap(neg_log_posterior, in_axes=(0, 0)))

    rows = []
    runs = [(1, "shard_map")]
    if args.host_devices > 1:
        runs += [(args.host_devices, "shard_map"), (args.host_devices, "named")]
    n_sc = min(args.scipy_subjects, S)
    groups = [g for _, g in df.groupby("subject", sort=False)][:n_sc]

    def scipy_loop():
        theta, solves = [], 0
        for g in groups:
            x, n = scipy_fit_subject(g, thetas, np.asarray(one.lower), np.asarray(one.upper))
            theta.append(x)
            solves += n
        return np.asarray(theta), solves

    # The machine is shared: scipy and every alsjax run alternate, `--repeats` times, and
    # each is quoted by its median, so that a change of load hits both sides alike.
    first = {}
    for devices, sharding in runs:
        t0 = time.perf_counter()
        fit_per_subject(data, ESTIMATE, devices=devices, sharding=sharding, **kw)
        first[(devices, sharding)] = time.perf_counter() - t0
    warm = {run: [] for run in runs}
    walls_sc, results = [], {}
    for _ in range(args.repeats):
        for devices, sharding in runs:
            t0 = time.perf_counter()
            r = fit_per_subject(data, ESTIMATE, devices=devices, sharding=sharding, **kw)
            warm[(devices, sharding)].append(time.perf_counter() - t0)
            results[(devices, sharding)] = r
        t0 = time.perf_counter()
        sc_theta, n_solves = scipy_loop()
        walls_sc.append(time.perf_counter() - t0)
    for devices, sharding in runs:
        r = results[(devices, sharding)]
        obj = np.asarray(score(jnp.asarray(r.stored), pb))
        results[(devices, sharding)] = (r, obj)
        name = f"alsjax fit_per_subject, {devices} device(s)" + (
            f", {sharding}" if devices > 1 else "")
        w = float(np.median(warm[(devices, sharding)]))
        rows.append((name, S, w, first[(devices, sharding)], S / w, int(r.converged.sum()),
                     obj))
    r1, obj1 = results[(1, "shard_map")]
    wall_sc = float(np.median(walls_sc))
    pb_s = jax.tree.map(lambda x: x[:n_sc], pb)
    obj_sc = np.asarray(score(jnp.asarray(sc_theta), pb_s))
    sc_rate = n_sc / wall_sc

    print(f"# bench_per_subject: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, jax {jax.__version__}, {S} subjects, {args.starts} "
          f"starts each, max {args.max_steps} LM steps; scipy on the first {n_sc} subjects "
          f"({n_solves} solve_ivp calls); wall: median of {args.repeats}, interleaved")
    print("| method | subjects | wall s (warm) | wall s (first, with compile) | fits / s | "
          "x scipy | converged | objective - scipy (first subjects, max) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| scipy least_squares + solve_ivp (FD), loop | {n_sc} | {wall_sc:.1f} | - | "
          f"{sc_rate:.4f} | 1 | - | 0 |")
    for name, n, warm, first, rate, nconv, obj in rows:
        diff = float(np.max(obj[:n_sc] - obj_sc))
        print(f"| {name} | {n} | {warm:.1f} | {first:.1f} | {rate:.3f} | "
              f"{rate / sc_rate:.0f} | {nconv}/{n} | {diff:+.2e} |")
    for (devices, sharding), (r, _) in results.items():
        if devices > 1:
            d = np.nanmax(np.abs(r.stored - r1.stored) / np.abs(r1.stored))
            print(f"# {devices} devices ({sharding}) vs 1: max relative difference of "
                  f"the stored estimates {d:.1e}")


if __name__ == "__main__":
    main()
