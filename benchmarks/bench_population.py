"""Population (Laplace / FOCE-I) fits: a 1,000-subject, 3-random-effect fit of the shipped
kind of data with its recovery of the truth, and the cost from 10 to 10,000 subjects.

Data: `alsjax._synth.population` (the design of data/synthetic/population.csv: ALSFRS-R
every ~3 months, NfL every ~6, 18-24 months, dropout, deaths, three genotypes, riluzole
arms, bulbar onset x1.3 on apoptotic_death_rate) with random effects on `RANDOM` (log SDs
`SD_LOG`, correlation 0.5 between every pair), seed 0. The fit: `fit_population` with
those three random effects, the bulbar covariate and a full covariance (12 coordinates).

- **fit:** the whole `fit_population` call on `--fit-subjects` (1,000) subjects: compile,
  outer BFGS steps and the SEs (by default, beyond 500 subjects, from the subjects' outer
  product of gradients, no extra evaluation; below, the central-difference Hessian, 2 x
  12 evaluations); each phase timed through the progress callback. The estimates against
  the truth.
  `--fit-subjects 0` skips it (the projections then assume `--evaluations`).
- **scaling:** at each `--subjects` N, the compile time of the objective (value, exact
  gradient and every subject's inner optimum) and the time of one evaluation: cold (inner
  problems from eta = 0, the first outer step) and warm (from the previous optima, as
  every later step); and the whole fit where N <= `--fit-max` (else `--capped-steps`
  outer BFGS steps, stated as such, and a projection from the evaluations the full fit
  took).
- **scipy in the same run:** for `--scipy-subjects` subjects, each subject's inner MAP
  problem (the same residuals without the death rows, plus the prior term, at the true
  population values) by `least_squares` (2-point differences) on `solve_ivp` (RK45, rtol 1e-6,
  atol 1e-9) in a Python loop: seconds per subject against alsjax's cold evaluation per
  subject (which also returns the exact outer gradient, so it does more per subject).

Usage: python benchmarks/bench_population.py [--quick] [--subjects 10,100,1000,10000]
       [--fit-subjects 1000] [--fit-max 1000] [--capped-steps 3] [--scipy-subjects 3]
       [--evaluations 100]
"""

import os
import sys

if os.environ.get("OPENBLAS_CORETYPE") is not None or os.environ.get("OPENBLAS_L2_SIZE"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import datetime  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
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
from alsjax._population import (  # noqa: E402
    CPU_CHUNK_SUBJECTS,
    _minimise,
    cohort_evaluator,
    fit_population,
    make_population,
    objective_resolution,
)
from alsjax._synth import population  # noqa: E402
from alsjax._therapy import Therapy, parse_therapy  # noqa: E402

RANDOM = ("apoptotic_death_rate", "nfl_release", "motor_reserve")
SD_LOG = (0.3, 0.4, 0.2)
CORRELATION = 0.5
COVARIATE = "apoptotic_death_rate~site_of_onset"
NOISE = {"alsfrs_r": 1.5, "nfl": 0.15}


def cohort(n: int, folder: Path, seed: int = 0):
    """The frame (through the CSV reader) and the truth of an n-subject cohort: the first
    seed from `seed` on that draws both sites of onset (a small cohort may not)."""
    while True:
        synth = population(n, seed=seed, effects=RANDOM, sd_log=SD_LOG,
                           correlation=CORRELATION)
        if n < 2 or 0 < synth.truth["covariates"]["site_of_onset"]["n_bulbar"] < n:
            break
        seed += 1
    path = folder / f"population_{n}.csv"
    alsjax.write_measurements(synth.data, path)
    return alsjax.read_measurements(path), synth.truth


def truth_table(truth) -> dict[str, float]:
    """The fit's names -> true values (population values, omegas, correlations, the
    covariate effect, noise SDs)."""
    out = {k: truth["varied"][k]["population"]["sporadic"] for k in RANDOM}
    cov = truth["covariates"]["site_of_onset"]
    out[f"apoptotic_death_rate~site_of_onset={cov['level']}"] = cov["effect_log"]
    out["sigma:alsfrs_r"], out["sigma:nfl"] = NOISE["alsfrs_r"], NOISE["nfl"]
    for k in RANDOM:
        out[f"omega:{k}"] = truth["random_effects"]["sd_log"][k]
    for i, a in enumerate(RANDOM):
        for b in RANDOM[i + 1:]:
            out[f"corr:{a}:{b}"] = truth["random_effects"]["correlation"]
    return out


def timed_fit(frame, max_steps: int):
    """`fit_population` with each phase's start time recorded by the progress callback."""
    marks: dict[str, float] = {}

    def progress(phase, done, total):
        marks.setdefault(phase, time.perf_counter())

    t0 = time.perf_counter()
    r = fit_population(frame, RANDOM, covariates=(COVARIATE,), covariance="full",
                       max_steps=max_steps, progress=progress)
    end = time.perf_counter()
    fit_start = marks.get("fitting", end)
    unc = marks.get("uncertainty", end)
    phases = {"setup + compile": fit_start - t0, "outer steps": unc - fit_start,
              "Hessian (SEs)": end - unc}
    return r, end - t0, phases


def eval_times(frame):
    """Compile seconds, cold and warm seconds of one objective + gradient evaluation,
    through the evaluator `fit_population` uses (on the CPU, cohorts beyond
    `CPU_CHUNK_SUBJECTS` in chunks of that many, as the fit runs them)."""
    data = alsjax.make_data(frame)
    pp, _, phi0 = make_population(data, RANDOM, covariates=(COVARIATE,), frame=frame,
                                  covariance="full")
    S = data.n_subjects
    chunk = (CPU_CHUNK_SUBJECTS if S > CPU_CHUNK_SUBJECTS and jax.default_backend() == "cpu"
             else None)
    fg, compile_s, _ = cohort_evaluator(pp, phi0, chunk_subjects=chunk)
    t0 = time.perf_counter()
    _, _, out = fg(phi0, np.zeros((S, len(RANDOM))))
    cold = time.perf_counter() - t0
    warm = []
    for k in range(1 if S >= 1000 else 2):
        t0 = time.perf_counter()
        _, _, out = fg(phi0 + 0.01 * (k + 1), out["eta"])
        warm.append(time.perf_counter() - t0)
    return compile_s, cold, min(warm), (fg, pp, phi0, data)


def capped_steps(fg, phi0, S: int, steps: int):
    """`steps` outer BFGS steps of the fit's own minimiser: seconds, steps, evaluations."""
    t0 = time.perf_counter()
    _, _, _, _, it, ne = _minimise(fg, phi0, np.zeros((S, len(RANDOM))), steps, 1e-3,
                                   objective_resolution(S), None)
    return time.perf_counter() - t0, it, ne


# --- scipy: one subject's inner problem ----------------------------------------------------

_UNRAVEL = jax.flatten_util.ravel_pytree(alsjax.default_params())[1]
_RHS = jax.jit(lambda t, y, v, on, start: alsjax.vector_field(t, y, _UNRAVEL(v),
                                                               Therapy(on, start)))
_OBS = jax.jit(lambda y, p: observables(y, physical(p)))


def scipy_inner(g, mu: dict[str, float], shift: float, L: np.ndarray):
    """argmin_eta |r(eta)|^2 + eta' Omega^-1 eta for one subject (frame rows `g`, no death
    rows), by least_squares on solve_ivp; returns eta and the number of solves."""
    g = g[g["observable"].isin(["alsfrs_r", "nfl"])]
    base = alsjax.default_params(str(g["genotype"].iat[0]))
    therapy = str(g["therapy"].iat[0])
    drugs = parse_therapy(therapy if therapy != "nan" else "")
    y0 = np.asarray(alsjax.initial_state(base))
    ts = np.unique(g["time"].to_numpy(float))
    Linv = np.linalg.inv(L)
    n = [0]

    def residuals(eta):
        p = base
        for j, name in enumerate(RANDOM):
            v = math.log(mu[name]) + eta[j] + (shift if name == "apoptotic_death_rate" else 0)
            p = p.replace(**{name: math.exp(v)})
        packed = np.asarray(jax.flatten_util.ravel_pytree(p)[0])
        sol = solve_ivp(lambda t, y: np.asarray(_RHS(t, y, packed, drugs.on, drugs.start)),
                        (0.0, ts[-1]), y0, method="RK45", t_eval=ts, rtol=1e-6, atol=1e-9)
        n[0] += 1
        prior = Linv @ eta
        if not sol.success:
            return np.concatenate([np.full(len(g), 1e3), prior])
        ob = _OBS(jnp.asarray(sol.y.T), p)
        out = []
        for t, k, v in zip(g["time"], g["observable"], g["value"], strict=True):
            f = float(np.asarray(ob[k])[np.searchsorted(ts, t)])
            out.append(math.log(v / f) / NOISE[k] if k == "nfl" else (v - f) / NOISE[k])
        return np.concatenate([out, prior])

    r = least_squares(residuals, np.zeros(len(RANDOM)), method="lm", x_scale=1.0,
                      xtol=1e-8, ftol=1e-8, gtol=1e-8)
    return r.x, n[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", default="10,100,1000,10000",
                    help="cohort sizes of the scaling table, comma-separated")
    ap.add_argument("--fit-subjects", type=int, default=1000, help="the headline fit")
    ap.add_argument("--fit-max", type=int, default=1000,
                    help="largest N fitted in full in the scaling table")
    ap.add_argument("--capped-steps", type=int, default=3,
                    help="outer steps timed above --fit-max")
    ap.add_argument("--max-steps", type=int, default=100, help="outer BFGS steps of a fit")
    ap.add_argument("--evaluations", type=int, default=100,
                    help="evaluations a fit takes, for the projections when the headline "
                    "fit is not run (--fit-subjects 0)")
    ap.add_argument("--scipy-subjects", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: N = 10, 100; the fit on 10 subjects (too few to "
                    "recover the truth); one capped step at 100; one scipy subject")
    args = ap.parse_args()
    if args.quick:
        args.subjects, args.fit_subjects, args.fit_max, args.scipy_subjects = \
            "10,100", 10, 10, 1
        args.capped_steps = 1
    sizes = sorted({int(s) for s in args.subjects.split(",") if s.strip()})
    folder = Path(tempfile.mkdtemp(prefix="bench_population_"))
    cpu = platform.processor() or platform.machine()
    print(f"# bench_population: {datetime.date.today()}, {cpu}, "
          f"{os.cpu_count()} CPUs, python {platform.python_version()}, jax {jax.__version__}; "
          f"random effects {', '.join(RANDOM)} (log SDs {SD_LOG}, correlation {CORRELATION}), "
          f"covariate {COVARIATE}, full covariance", flush=True)

    # (a) the headline fit, with its recovery of the truth
    fits, n_eval_ref = {}, args.evaluations
    frame, truth = cohort(max(args.fit_subjects, args.scipy_subjects, 2), folder)
    if args.fit_subjects:
        headline(frame, truth, args, fits)
        n_eval_ref = fits[args.fit_subjects][0].n_evaluations
    scaling(sizes, folder, args, fits, n_eval_ref, frame, truth)


def headline(frame, truth, args, fits) -> None:
    """The whole fit: each phase's time and the estimates against the truth."""
    r, wall, phases = timed_fit(frame, args.max_steps)
    fits[args.fit_subjects] = (r, wall)
    print(f"\n## {args.fit_subjects}-subject fit: {wall:.1f} s wall ({r.n_observations} "
          f"observations), {r.n_iter} outer steps, "
          f"{r.n_evaluations} evaluations, converged {r.converged}, "
          f"{r.n_failed} failed subjects, {int(r.inner_converged.sum())}/{r.n_subjects} inner "
          f"problems converged; SEs from the {r.se_method}")
    print("| phase | s | share |\n|---|---|---|")
    for k, v in phases.items():
        print(f"| {k} | {v:.1f} | {v / wall:.0%} |")
    per_eval = (phases["outer steps"] + phases["Hessian (SEs)"]) / max(r.n_evaluations - 1, 1)
    print(f"| (compile alone) | {r.compile_time:.1f} | {r.compile_time / wall:.0%} |")
    print(f"\n{per_eval:.2f} s per objective + gradient evaluation "
          f"({per_eval / r.n_subjects * 1e3:.1f} ms per subject)\n")
    print("| parameter | truth | estimate | 95% interval | inside |\n|---|---|---|---|---|")
    for name, true in truth_table(truth).items():
        lo, hi = r.ci_low[name], r.ci_high[name]
        print(f"| {name} | {true:.4g} | {r.estimates[name]:.4g} | [{lo:.4g}, {hi:.4g}] | "
              f"{'yes' if lo <= true <= hi else 'NO'} |", flush=True)


def scaling(sizes, folder, args, fits, n_eval_ref, frame, truth) -> None:
    """(b) compile and evaluation times against N, fits where feasible; (c) scipy."""
    print("\n## cost against cohort size\n")
    print("| subjects | compile s | eval cold s | eval warm s | warm ms / subject | "
          "fit s | outer steps | evaluations | note |\n|---|---|---|---|---|---|---|---|---|",
          flush=True)
    per_subject = {}
    for n in sizes:
        frame_n, _ = cohort(n, folder)
        compile_s, cold, warm, (fg, pp, phi0, data) = eval_times(frame_n)
        per_subject[n] = (cold, warm)
        note, fit_s, steps, evals = "", "-", "-", "-"
        if n in fits:
            rr, w = fits[n]
            fit_s, steps, evals = f"{w:.1f}", rr.n_iter, rr.n_evaluations
            compile_s = rr.compile_time  # the program above came from JAX's memory cache
        elif n <= args.fit_max:
            rr, w, _ = timed_fit(frame_n, args.max_steps)
            fit_s, steps, evals = f"{w:.1f}", rr.n_iter, rr.n_evaluations
        else:
            if args.capped_steps:
                s, it, ne = capped_steps(fg, phi0, data.n_subjects, args.capped_steps)
                steps, evals = f"{it} (capped)", ne
                fit_s = f"{s:.1f} for {it} steps"
            where = (f"as at N = {args.fit_subjects}" if args.fit_subjects else "assumed")
            note = (f"projected full fit {compile_s + n_eval_ref * warm:.0f} s "
                    f"({n_eval_ref} warm evaluations, {where})")
        print(f"| {n} | {compile_s:.1f} | {cold:.2f} | {warm:.2f} | {warm / n * 1e3:.1f} | "
              f"{fit_s} | {steps} | {evals} | {note} |", flush=True)
        del fg, pp, data

    # (c) scipy: one subject's inner problem in a loop
    n_sc = args.scipy_subjects
    if n_sc and per_subject:  # against the largest N of the scaling table
        mu = {k: truth["varied"][k]["population"]["sporadic"] for k in RANDOM}
        sd = np.asarray(SD_LOG)
        C = np.full((3, 3), CORRELATION) + (1 - CORRELATION) * np.eye(3)
        L = np.linalg.cholesky(C * np.outer(sd, sd))
        groups = [g for _, g in frame.groupby("subject", sort=False)][:n_sc]
        t0 = time.perf_counter()
        solves = 0
        for g in groups:
            bulbar = str(g["site_of_onset"].iat[0]) == "bulbar"
            _, k = scipy_inner(g, mu, math.log(1.3) if bulbar else 0.0, L)
            solves += k
        sc = (time.perf_counter() - t0) / n_sc
        n = max(per_subject)
        cold, warm = per_subject[n]
        print(f"\nscipy least_squares + solve_ivp, one subject's inner problem: {sc:.2f} s per "
              f"subject ({n_sc} subjects, {solves / n_sc:.0f} solves each); alsjax at "
              f"N = {n}: {cold / n * 1e3:.1f} ms per subject cold (inner problems from 0, "
              f"with the exact outer gradient), {warm / n * 1e3:.1f} ms warm: "
              f"{sc / (cold / n):.0f}x (cold) and {sc / (warm / n):.0f}x (warm) scipy")


if __name__ == "__main__":
    main()
