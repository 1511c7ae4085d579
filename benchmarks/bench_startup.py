"""The default `alsjax fit` as a user meets it: whole processes, cold and warm, beside scipy.

Three commands run in turn (cold, warm, scipy; repeated `--repeats` times, medians quoted):
- cold: `alsjax fit` with an empty persistent cache (`ALSJAX_CACHE_DIR` a new folder each
  run): import, trace, compile, fit, Laplace, report, files;
- warm: the same with the cache a first run filled (the second run of a user's day);
- scipy: `python benchmarks/bench_fit.py --scipy-only`, the same problem fitted with
  `least_squares` on `solve_ivp` from the same starts (a whole process too: imports, the
  jitted vector field's compilation and the fit).
Each alsjax run's summary.json gives its phases (`timings_s`: compile and run seconds of
the fit, Laplace and report programs; `phases_s`: the process's start-up before the run
(interpreter, imports), the figure); the rest of its wall time is start-up, reading,
files and exit. The runs import alsjax from this checkout (PYTHONPATH), not from
wherever the `alsjax` script was installed from.

Usage: python benchmarks/bench_startup.py [--repeats 3]
"""

import os
import sys

# Timing must not depend on a tuned OpenBLAS: unset for this process and its children.
if os.environ.get("OPENBLAS_CORETYPE") is not None or os.environ.get("OPENBLAS_L2_SIZE"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="alsjax-startup-"))
    alsjax_fit = [sys.executable, "-m", "alsjax", "fit", "--quiet", "--force"]
    warm_cache = work / "warm-cache"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = dict(os.environ, ALSJAX_CACHE_DIR=str(warm_cache))
    _timed([*alsjax_fit, "--out", str(work / "fill")], env)  # fills the warm cache
    times = {"cold": [], "warm": [], "scipy": []}
    phases = {"cold": [], "warm": []}
    try:
        for i in range(args.repeats):
            for kind in ("cold", "warm", "scipy"):
                if kind == "scipy":
                    times[kind].append(_timed([sys.executable, "benchmarks/bench_fit.py",
                                               "--scipy-only"], dict(os.environ)))
                    continue
                cache = warm_cache if kind == "warm" else work / f"cold-{i}"
                out = work / f"{kind}-{i}"
                times[kind].append(_timed([*alsjax_fit, "--out", str(out)],
                                          dict(os.environ, ALSJAX_CACHE_DIR=str(cache))))
                summary = json.loads((out / "summary.json").read_text())
                phases[kind].append((summary["timings_s"], summary.get("phases_s", {})))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import jax

    print(f"# bench_startup: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, python {platform.python_version()}, jax {jax.__version__}, "
          f"{args.repeats} rounds (cold, warm, scipy in turn)")
    scipy = statistics.median(times["scipy"])
    print("| run | wall s, median (min-max) | x scipy's time | fit compile s | fit run s | "
          "Laplace s | report compile s | report run s (figure) | start-up s | "
          "rest s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind in ("cold", "warm", "scipy"):
        t = times[kind]
        med = statistics.median(t)
        row = f"| {kind} | {med:.2f} ({min(t):.2f}-{max(t):.2f}) | {med / scipy:.2f} |"
        if kind in phases:
            # the median run's phases
            ph, wall = phases[kind][t.index(sorted(t)[len(t) // 2])]
            inside = sum(v for p in ph.values() for v in p.values())
            start = wall.get("start_s")
            rest = med - inside - (start or 0.0)
            row += (f" {ph['fit']['compile_s']:.2f} | {ph['fit']['run_s']:.2f} | "
                    f"{sum(ph['laplace'].values()):.2f} | {ph['report']['compile_s']:.2f} | "
                    f"{ph['report']['run_s']:.2f} ({wall.get('figure_s', math.nan):.2f}) | "
                    f"{math.nan if start is None else start:.2f} | {rest:.2f} |")
        else:
            row += " - | - | - | - | - | - | - |"
        print(row)


if __name__ == "__main__":
    main()
