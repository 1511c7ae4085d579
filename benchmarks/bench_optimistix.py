"""The fit's hand-written optimisers against optimistix's, on the same problem.

Problem: the shipped default fit (data/synthetic/small_human.csv, 4 subjects, 60 rows),
estimating apoptotic_death_rate and nfl_release within bench_fit.py's bounds, with the
noise SDs fixed at alsjax's defaults (all-gaussian, `estimate_noise=False`: the objective
is a plain weighted least squares), from the same 4 scrambled-Sobol starts (seed 0), all
starts vmapped in one jitted program on both sides.

- (a) `lm`: today's hand-written Levenberg-Marquardt (`alsjax._optimise.run_starts`' program)
  against `optx_lm`: `optx.least_squares` with `optx.LevenbergMarquardt` on the same
  residuals (`_fit_residuals` after the bound reparametrisation `to_stored`).
- (b) `lbfgs`: today's optax L-BFGS against `optx_lbfgs`: `optx.minimise` with
  `optx.LBFGS` on the same objective (`alsjax._problem.objective`, whose gradient is forward
  mode behind a custom VJP, so optimistix's default reverse-mode gradient applies).

Cold: a fresh process per measurement (no persistent compilation cache), trace
(`jax.jit(f).lower`), compile (`.compile()`) and the first call timed apart; the
contenders alternate, `--procs` processes each. Warm: in one process, after one untimed
call each, the contenders alternate for `--repeats` calls; the median. Every final point
is scored by the same objective (`neg_log_posterior`).

Usage: python benchmarks/bench_optimistix.py [--pair lm|lbfgs|both] [--procs 3] [--repeats 5]
"""

import os
import sys

# Timing must not depend on a tuned OpenBLAS: unset for this process only (re-exec).
if os.environ.get("OPENBLAS_CORETYPE") is not None or os.environ.get("OPENBLAS_L2_SIZE"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ESTIMATE = ("apoptotic_death_rate", "nfl_release")
BOUNDS = {"apoptotic_death_rate": (0.002, 0.03), "nfl_release": (300.0, 15000.0)}
N_STARTS = 4
MAX_STEPS = 200  # the fit's default, for every optimiser
OPTX_TOL = 1e-6  # rtol = atol; reaches the hand-written optimum to ~1e-11 relative
PAIRS = {"lm": ("lm", "optx_lm"), "lbfgs": ("lbfgs", "optx_lbfgs")}


def build(variant: str):
    """(jitted function, its arguments, extract) for one contender; `extract` maps the
    output to (final z per start, steps per start, converged/successful per start)."""
    import jax
    import jax.numpy as jnp
    import optimistix as optx

    import alsjax
    from alsjax import make_data
    from alsjax._optimise import _advance_starts, _init_starts
    from alsjax._problem import fit_residuals, make_problem, objective, sobol_starts, to_stored

    data = make_data(alsjax.read_measurements(ROOT / "data/synthetic/small_human.csv"))
    opt = "lbfgs" if "lbfgs" in variant else "lm"
    pb, _, _ = make_problem(data, ESTIMATE, bounds=BOUNDS, noise="gaussian",
                            estimate_noise=False, optimiser=opt, max_steps=MAX_STEPS)
    z0 = jnp.asarray(sobol_starts(N_STARTS, pb, seed=0))
    nf = pb.n_fit

    if variant in ("lm", "lbfgs"):
        fixed = jnp.zeros(z0.shape[1], bool)

        def whole(z0, pb):  # every step of every start in one program, as the fit runs it
            carry = _init_starts(z0, pb, fixed, z0)
            _, out = _advance_starts(carry, pb, fixed, z0, jnp.asarray(1.0, z0.dtype),
                                     jnp.asarray(MAX_STEPS, jnp.int32))
            return out

        return jax.jit(whole), (z0, pb), lambda out: (out[0], out[3], out[2]), pb

    def residuals(z, pb):
        theta = to_stored(z, pb)
        return fit_residuals(theta[:nf], theta[nf:], pb)

    if variant == "optx_lm":
        solver = optx.LevenbergMarquardt(rtol=OPTX_TOL, atol=OPTX_TOL)

        def one(z, pb):
            sol = optx.least_squares(residuals, solver, z, pb, throw=False,
                                     max_steps=MAX_STEPS)
            return sol.value, sol.stats["num_steps"], sol.result == optx.RESULTS.successful
    elif variant == "optx_lbfgs":
        solver = optx.LBFGS(rtol=OPTX_TOL, atol=OPTX_TOL)

        def one(z, pb):
            sol = optx.minimise(lambda z, pb: objective(z, pb), solver, z, pb, throw=False,
                                max_steps=MAX_STEPS)
            return sol.value, sol.stats["num_steps"], sol.result == optx.RESULTS.successful
    else:
        raise SystemExit(f"unknown variant {variant!r}")

    def run(z0, pb):  # the Solution's state holds a jaxpr, so return arrays only
        return jax.vmap(one, in_axes=(0, None))(z0, pb)

    return jax.jit(run), (z0, pb), lambda out: out, pb


def child(variant: str) -> None:
    """One cold measurement: trace, compile and the first call of a fresh process."""
    import jax

    jax.config.update("jax_enable_x64", True)
    fn, args, _, _ = build(variant)
    t0 = time.perf_counter()
    lowered = fn.lower(*args)
    t1 = time.perf_counter()
    exe = lowered.compile()
    t2 = time.perf_counter()
    jax.block_until_ready(exe(*args))
    t3 = time.perf_counter()
    print(json.dumps(dict(variant=variant, trace=t1 - t0, compile=t2 - t1, first=t3 - t2)))


def cold(variants, procs: int) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE"))}
    env.update(ALSJAX_CACHE_DIR="off", JAX_ENABLE_COMPILATION_CACHE="false")
    rows = {v: [] for v in variants}
    for r in range(procs):
        for v in variants:  # alternate: A B A B ...
            out = subprocess.run([sys.executable, __file__, "--child", v], env=env, cwd=ROOT,
                                 capture_output=True, text=True, check=True)
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            rows[v].append(rec)
            print(f"  cold {r + 1}/{procs} {v}: trace {rec['trace']:.2f} s, compile "
                  f"{rec['compile']:.2f} s, first call {rec['first']:.2f} s", flush=True)
    return rows


def warm(variants, repeats: int) -> dict:
    import jax
    import numpy as np

    from alsjax._problem import neg_log_posterior, to_stored

    built = {}
    for v in variants:
        fn, args, extract, pb = build(v)
        exe = fn.lower(*args).compile()
        out = jax.block_until_ready(exe(*args))  # untimed: one-off allocations
        built[v] = (exe, args, extract, pb, out)
    times = {v: [] for v in variants}
    for _ in range(repeats):
        for v in variants:  # alternate: A B A B ...
            exe, args = built[v][:2]
            t0 = time.perf_counter()
            jax.block_until_ready(exe(*args))
            times[v].append(time.perf_counter() - t0)
    res = {}
    for v in variants:
        _, _, extract, pb, out = built[v]
        z, steps, ok = extract(out)
        score = jax.jit(jax.vmap(lambda z, pb=pb: neg_log_posterior(to_stored(z, pb), pb)))
        obj = np.asarray(score(z))
        res[v] = dict(times=times[v], warm=statistics.median(times[v]), objectives=obj,
                      best=float(np.min(obj)), steps=np.asarray(steps).tolist(),
                      ok=np.asarray(ok).tolist())
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", choices=("lm", "lbfgs", "both"), default="both")
    ap.add_argument("--procs", type=int, default=3, help="cold processes per contender")
    ap.add_argument("--repeats", type=int, default=5, help="warm calls per contender")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child)

    import jax

    jax.config.update("jax_enable_x64", True)
    import optimistix

    pairs = list(PAIRS) if a.pair == "both" else [a.pair]
    variants = [v for p in pairs for v in PAIRS[p]]
    print(f"# bench_optimistix: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs (shared with other work: timings are noisy, compare the "
          f"ratios), jax {jax.__version__}, optimistix {optimistix.__version__}, "
          f"{N_STARTS} starts, max_steps {MAX_STEPS}, optimistix rtol = atol = {OPTX_TOL:g}",
          flush=True)
    t_all = time.perf_counter()
    c = cold(variants, a.procs) if a.procs > 0 else {v: [] for v in variants}
    w = warm(variants, a.repeats)
    med = lambda rows, k: statistics.median(r[k] for r in rows) if rows else float("nan")  # noqa: E731
    print("\n| optimiser | trace s | compile s | first call s | cold s (trace+compile+first) "
          "| warm s (median) | best objective | objective - hand-written | steps per start "
          "| successful |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for p in pairs:
        hw, ox = PAIRS[p]
        for v in (hw, ox):
            rows = c[v]
            cold_s = med([dict(t=r["trace"] + r["compile"] + r["first"]) for r in rows], "t")
            summary[v] = dict(cold=cold_s, compile=med(rows, "compile"), warm=w[v]["warm"])
            print(f"| {v} | {med(rows, 'trace'):.2f} | {med(rows, 'compile'):.2f} | "
                  f"{med(rows, 'first'):.2f} | {cold_s:.2f} | {w[v]['warm']:.3f} | "
                  f"{w[v]['best']:.9f} | {w[v]['best'] - w[hw]['best']:+.2e} | "
                  f"{w[v]['steps']} | {sum(w[v]['ok'])}/{len(w[v]['ok'])} |")
    print()
    for p in pairs:
        hw, ox = PAIRS[p]
        rw = summary[ox]["warm"] / summary[hw]["warm"]
        rc = summary[ox]["cold"] / summary[hw]["cold"]
        rcomp = summary[ox]["compile"] / summary[hw]["compile"]
        rel = (w[ox]["best"] - w[hw]["best"]) / abs(w[hw]["best"])
        adopt = rw <= 1.5 and rc <= 1.0
        print(f"- {ox} / {hw}: warm x{rw:.2f}, cold x{rc:.2f}, compile x{rcomp:.2f}, "
              f"objective {rel:+.1e} relative; warm calls {hw} "
              f"{[round(t, 3) for t in w[hw]['times']]}, {ox} "
              f"{[round(t, 3) for t in w[ox]['times']]}. Rule (warm <= 1.5x and cold <= 1x): "
              f"{'adopt optimistix' if adopt else 'keep the hand-written optimiser'}")
    print(f"- Whole run: {time.perf_counter() - t_all:.0f} s.")


if __name__ == "__main__":
    main()
