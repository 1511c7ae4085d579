"""What the lockstep of the chunked multistart costs on the shipped recipes.

    python benchmarks/bench_multistart.py [fit/default.toml fit/mouse_sod1.toml]

`_optimise.run_starts` steps every start (and every profile grid point) side by side in
one vmapped loop: a chunk runs until its slowest start stops, and a start that stopped
early is parked (re-evaluated at its optimum) until then. Per call of `run_starts` this
prints each start's steps and the lockstep efficiency, sum(steps) / (starts x max(steps)):
the share of the evaluations that advanced a live start. A lane queue of starts (each
start its own optimiser, a finished start freeing its slot for the next) could at best
remove the rest, and only where there are more starts than slots to refill them.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import alsjax._fit as fit_module  # noqa: E402
import alsjax._optimise as optimise  # noqa: E402
import alsjax._uncertainty as uncertainty  # noqa: E402
from alsjax import run_recipe  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CALLS = []


def _recording(run):
    def wrapped(z0, pb, **kw):
        t0 = time.perf_counter()
        out = run(z0, pb, **kw)
        CALLS.append(dict(stage=kw.get("stage", "fitting"), steps=np.asarray(out.steps),
                          wall=time.perf_counter() - t0, compile=out.compile_time,
                          max_steps=pb.max_steps))
        return out

    return wrapped


def main():
    recipes = sys.argv[1:] or [str(ROOT / "fit/default.toml"), str(ROOT / "fit/mouse_sod1.toml")]
    fit_module.run_starts = _recording(optimise.run_starts)
    uncertainty.run_starts = _recording(optimise.run_starts)
    print("| recipe | stage | starts | steps per start | max | efficiency | run s "
          "(excl. compile) | run s at full efficiency |")
    print("|---|---|---|---|---|---|---|---|")
    for recipe in recipes:
        CALLS.clear()
        run_recipe(recipe)  # the first run compiles
        CALLS.clear()
        run_recipe(recipe)
        for c in CALLS:
            s = c["steps"]
            eff = s.sum() / (len(s) * s.max())
            run_s = c["wall"] - c["compile"]
            print(f"| {Path(recipe).name} | {c['stage']} | {len(s)} | {s.tolist()} | "
                  f"{s.max()} | {eff:.0%} | {run_s:.2f} | {run_s * eff:.2f} |", flush=True)


if __name__ == "__main__":
    main()
