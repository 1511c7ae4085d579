"""XLA's CPU fusion emitters against its older loop emitters: compile and run time, paired.

jaxlib 0.10's CPU backend compiles every loop fusion as a kernel of its own through MLIR
(the "fusion emitters"); `xla_cpu_use_fusion_emitters=False` takes the older path that
emits them straight to LLVM IR. This model's programs have hundreds of small fusions
(the vector field's divides, each with several users, each root one), so the choice
moves compile time; this script measures what it does to run time too.

Each workload runs in a fresh process per setting (`XLA_FLAGS`, so every program of the
process compiles under it), the settings alternating, `--repeats` times; the table gives
medians of compile seconds (lowered once, compiled once) and of run seconds (the minimum
of 3 calls after a first), and the largest relative difference between the two
settings' results.

Usage: python benchmarks/bench_emitters.py [--repeats 2] [--only NAME,...]
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
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LEGACY = "--xla_cpu_use_fusion_emitters=false"


def _workload(name: str):
    """(function, arguments) of one named workload, in this (worker) process."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import alsjax
    from benchmarks import _problem as P

    def theta(n):
        return jnp.asarray(P.offsets(n))

    if name == "forward simulate_batch, N 1024":
        return P.batch_forward(1024), (theta(1024),)
    if name == "forward vmap(simulate), N 256":
        return P.vmap_forward(256), (theta(256),)
    if name == "grad 3 rates, simulate_batch, N 64":
        base, ts = P.base_params(64), P.output_times()

        def loss(th):
            full = jnp.zeros((64, len(P.VARY))).at[:, :3].set(th)
            ys = alsjax.simulate_batch(P.with_offsets(base, full), ts, rtol=P.RTOL,
                                       atol=P.ATOL).ys
            return jnp.sum(P.loss_of_states(ys))

        return jax.grad(loss), (theta(64)[:, :3],)
    if name == "grad 13 rates (adjoint), simulate_batch, N 256":
        return P.gradient(P.batch_forward(256, "auto")), (theta(256),)
    if name == "grad 13 rates, vmap(simulate), N 64":
        return P.gradient(P.vmap_forward(64)), (theta(64),)
    raise SystemExit(f"unknown workload {name!r}")


WORKLOADS = ("forward simulate_batch, N 1024", "forward vmap(simulate), N 256",
             "grad 3 rates, simulate_batch, N 64",
             "grad 13 rates (adjoint), simulate_batch, N 256",
             "grad 13 rates, vmap(simulate), N 64")


def _worker(name: str, out: str) -> None:
    import jax
    import numpy as np

    fn, args = _workload(name)
    lowered = jax.jit(fn).lower(*args)
    t0 = time.perf_counter()
    exe = lowered.compile()
    compile_s = time.perf_counter() - t0
    result = jax.block_until_ready(exe(*args))
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(exe(*args))
        runs.append(time.perf_counter() - t0)
    first = np.asarray(jax.tree.leaves(result)[0], dtype=np.float64)
    np.save(out, first)
    print(json.dumps({"compile_s": compile_s, "run_s": min(runs)}))


def _run(name: str, legacy: bool, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.pop("XLA_FLAGS", None)
    if legacy:
        env["XLA_FLAGS"] = LEGACY
    done = subprocess.run([sys.executable, __file__, "--worker", name, "--out", str(out)],
                          env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cli_fit(legacy: bool, work: Path) -> dict:
    """The default `alsjax fit` from an empty persistent cache, as a whole process."""
    import shutil

    env = dict(os.environ, ALSJAX_CACHE_DIR=str(work / "cache"), PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.pop("XLA_FLAGS", None)
    if legacy:
        env["XLA_FLAGS"] = LEGACY
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "alsjax", "fit", "--quiet", "--force", "--out",
                    str(work / "out")], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    summary = json.loads((work / "out" / "summary.json").read_text())
    fit = summary["timings_s"]["fit"]
    return {"compile_s": fit["compile_s"], "run_s": fit["run_s"], "wall_s": wall,
            "objective": summary.get("objective")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--only", default="")
    ap.add_argument("--worker")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker, args.out)
        return
    import numpy as np

    names = [n for n in WORKLOADS if not args.only or any(o in n for o in args.only.split(","))]
    work = Path(tempfile.mkdtemp(prefix="alsjax-emitters-"))
    rows = []
    for name in names:
        got = {False: [], True: []}
        for r in range(args.repeats):
            for legacy in (False, True) if r % 2 == 0 else (True, False):
                got[legacy].append(_run(name, legacy, work / f"{legacy}.npy"))
        a, b = np.load(work / "False.npy"), np.load(work / "True.npy")
        rel = float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))
        rows.append((name, got, rel))
        print(f"{name}: done", flush=True)
    if not args.only:
        got = {False: [], True: []}
        for r in range(args.repeats):
            for legacy in (False, True) if r % 2 == 0 else (True, False):
                got[legacy].append(_cli_fit(legacy, work / "cli"))
        same = len({g["objective"] for v in got.values() for g in v}) == 1
        rows.append(("default `alsjax fit`, cold (fit program; wall in the last column)", got,
                     0.0 if same else float("nan")))

    import jax

    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, jax {jax.__version__}; medians of {args.repeats} "
          f"fresh processes per setting, alternating\n")
    print("| workload | compile s, fusion emitters | compile s, loop emitters | ratio | "
          "run s, fusion emitters | run s, loop emitters | ratio | max rel. difference |")
    print("|---|---|---|---|---|---|---|---|")
    for name, got, rel in rows:
        med = {k: {f: statistics.median(g[f] for g in v) for f in v[0]} for k, v in got.items()}
        extra = (f" (wall {med[False]['wall_s']:.1f} / {med[True]['wall_s']:.1f} s)"
                 if "wall_s" in med[False] else "")
        print(f"| {name} | {med[False]['compile_s']:.2f} | {med[True]['compile_s']:.2f} | "
              f"{med[True]['compile_s'] / med[False]['compile_s']:.2f} | "
              f"{med[False]['run_s']:.3f} | {med[True]['run_s']:.3f} | "
              f"{med[True]['run_s'] / med[False]['run_s']:.2f} | {rel:.1e}{extra} |")


if __name__ == "__main__":
    main()
