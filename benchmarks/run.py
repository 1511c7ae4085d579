"""Ensemble solves and gradients of the cascade: simulate_batch vs vmap(simulate) vs scipy.

    python -m benchmarks [--quick] [--max-n N] [--dtype float32|float64]

Each (method, mode) runs in its own process, N ascending, so the peak RSS recorded after
each N is that configuration's (ru_maxrss is a high-water mark; it includes JAX start-up
and compilation). Timings follow diffrax's rules: compile first (timed separately with
`lower().compile()`), `block_until_ready`, the same tolerances for every method, the
median of repeats. scipy runs in the same invocation on a sample and is reported per
trajectory. Results are printed and appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HERE = Path(__file__).resolve().parent
CPU_NS = (1, 16, 256, 4096, 16384)
GPU_NS = (1, 16, 256, 4096, 16384, 65536, 262144, 1_000_000)
PER_CONFIG_CAP_S = 120.0  # skip a configuration whose projected time is over this
ACCURACY_TARGET = {"float64": 1e-5, "float32": 1e-3}


def _file(group: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in group) + ".json"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup(dtype: str) -> None:
    import jax

    jax.config.update("jax_enable_x64", dtype == "float64")


def _time(fn, theta, budget_s: float = 4.0, max_repeats: int = 5):
    """(median seconds per call, compile seconds, outputs)."""
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(theta).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(theta))
    first = time.perf_counter() - t0
    repeats = max(0, min(max_repeats, int(budget_s / max(first, 1e-9))))
    times = [first]
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(theta))
        times.append(time.perf_counter() - t0)
    if repeats:
        times = times[1:]  # the first call can carry one-off allocation costs
    times.sort()
    return times[len(times) // 2], compile_s, out


def _accuracy(ys, ref):
    """Per trajectory: max over times and states of |y - ref| / (max_t |ref| + 1e-12)."""
    import numpy as np

    ys = np.asarray(ys, dtype=float)[: len(ref)]
    scale = np.abs(ref).max(axis=1, keepdims=True) + 1e-12
    err = np.abs(ys - ref) / scale
    return np.where(np.isnan(err), np.inf, err).max(axis=(1, 2))


def worker(group: str, ns: list[int], dtype: str, tmp: Path) -> list[dict]:
    """One (mode, method) over ascending N, or the scipy sample; rows as dicts. scipy and
    its Radau reference always run in float64 (the accuracy of float32 rows is measured
    against it)."""
    _setup("float64" if group == "scipy" else dtype)
    import jax.numpy as jnp
    import numpy as np

    from . import _problem as P

    rows = []
    if group == "scipy":
        from . import _scipy as S

        sample = P.offsets(max(ns))
        acc_n = min(len(sample), int(os.environ.get("ALSJAX_BENCH_ACC", "16")))
        t0 = time.perf_counter()
        ref = S.reference(sample[:acc_n])
        np.save(tmp / "reference.npy", ref)
        ref_s = time.perf_counter() - t0
        lsoda = np.stack([S.solve(th) for th in sample[:acc_n]])
        med, mean = S.per_trajectory(S.solve, sample)
        acc = _accuracy(lsoda, ref)
        rows.append(dict(method="scipy LSODA", mode="fwd", n=len(sample), s_per_traj=med,
                         s_mean=mean, acc_max=float(acc.max()), acc_n=acc_n,
                         rss_mb=_rss_mb(), note=f"Radau reference {ref_s:.0f} s"))
        g_n = min(len(sample), int(os.environ.get("ALSJAX_BENCH_FD", "16")))
        med, mean = S.per_trajectory(S.fd_gradient, sample[:g_n])
        fd = np.stack([S.reference_gradient(th) for th in sample[:2]])
        np.save(tmp / "fd.npy", fd)
        rows.append(dict(method="scipy LSODA + FD", mode="grad", n=g_n, s_per_traj=med,
                         s_mean=mean, rss_mb=_rss_mb()))
        return rows

    mode, method = group.split(":", 1)
    make = P.METHODS[method]
    ref_path = tmp / "reference.npy"
    ref = np.load(ref_path) if ref_path.exists() else None
    prev_rate = None
    for n in ns:
        projected = n / prev_rate if prev_rate else 0.0
        if projected > PER_CONFIG_CAP_S:
            rows.append(dict(method=method, mode=mode, n=n, skipped=f"projected {projected:.0f} s"))
            continue
        theta = jnp.asarray(P.offsets(n), dtype=jnp.result_type(float))
        fn = make(n) if mode == "fwd" else P.gradient(make(n))
        sec, compile_s, out = _time(fn, theta)
        row = dict(method=method, mode=mode, n=n, s=sec, traj_s=n / sec, compile_s=compile_s,
                   rss_mb=_rss_mb())
        if mode == "fwd":
            ys, ok, steps = (np.asarray(a) for a in out)
            row.update(steps_mean=float(steps.mean()), steps_max=int(steps.max()),
                       ok=int(ok.sum()))
            if ref is not None and n >= len(ref):
                acc = _accuracy(ys, ref)
                row.update(acc_max=float(acc.max()), acc_n=len(ref))
        else:
            g = np.asarray(out)
            row.update(ok=int(np.isfinite(g).all(axis=1).sum()))
            fd_path = tmp / "fd.npy"
            if fd_path.exists() and n >= 2:
                fd = np.load(fd_path)
                rel = np.abs(g[:2] - fd) / (np.abs(fd).max(axis=1, keepdims=True))
                row.update(fd_rel=float(rel.max()))
        prev_rate = row["traj_s"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def _versions() -> str:
    import diffrax
    import equinox
    import jax
    import jaxlib
    import numpy
    import scipy

    return (f"python {platform.python_version()}, jax {jax.__version__}, jaxlib "
            f"{jaxlib.__version__}, diffrax {diffrax.__version__}, equinox "
            f"{equinox.__version__}, numpy {numpy.__version__}, scipy {scipy.__version__}")


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs (nproc {len(os.sched_getaffinity(0))})"


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    info = threadpool_info()
    kernels = [f"{i.get('internal_api')} {i.get('architecture', '?')}" for i in info]
    return "; ".join(kernels) or "none"


def _fmt(x, digits=3):
    if x is None:
        return ""
    if isinstance(x, float):
        if x != x:
            return "nan"
        if abs(x) >= 100:
            return f"{x:,.0f}"
        return f"{x:.{digits}g}"
    return str(x)


def report(rows: list[dict], header: str, dtype: str) -> str:
    scipy_fwd = next((r for r in rows if r["method"] == "scipy LSODA"), None)
    scipy_grad = next((r for r in rows if r["method"] == "scipy LSODA + FD"), None)
    plain = {(r["mode"], r["n"]): r for r in rows if r["method"] == "vmap(simulate)"}
    target = ACCURACY_TARGET[dtype]
    lines = [header, ""]
    lines.append("| mode | method | N | s per call | traj/s | x scipy | x vmap | compile s "
                 "| steps mean / max | ok | max rel err (sample) | peak RSS MB |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["method"].startswith("scipy"):
            continue
        if "skipped" in r:
            lines.append(f"| {r['mode']} | {r['method']} | {r['n']} | skipped: {r['skipped']} "
                         "| | | | | | | | |")
            continue
        ref = scipy_fwd if r["mode"] == "fwd" else scipy_grad
        x_scipy = r["traj_s"] * ref["s_per_traj"] if ref else None
        base = plain.get((r["mode"], r["n"]))
        x_plain = r["traj_s"] / base["traj_s"] if base and "traj_s" in base else None
        steps = (f"{r['steps_mean']:.0f} / {r['steps_max']}" if "steps_mean" in r else "")
        acc = r.get("acc_max")
        if acc is None and "fd_rel" in r:
            acc_s = f"vs FD {r['fd_rel']:.1g}"
        else:
            acc_s = f"{acc:.2g} (n={r['acc_n']})" if acc is not None else ""
        lines.append(
            f"| {r['mode']} | {r['method']} | {r['n']} | {_fmt(r['s'])} | {_fmt(r['traj_s'])} "
            f"| {_fmt(x_scipy)} | {_fmt(x_plain)} | {_fmt(r['compile_s'])} | {steps} "
            f"| {r['ok']}/{r['n']} | {acc_s} | {r['rss_mb']:.0f} |")
    lines.append("")
    for r in (scipy_fwd, scipy_grad):
        if r:
            acc = f", max rel err {r['acc_max']:.2g} (n={r['acc_n']})" if "acc_max" in r else ""
            lines.append(f"- {r['method']} ({r['mode']}): {r['s_per_traj'] * 1e3:.1f} ms per "
                         f"trajectory (median of {r['n']}; {1 / r['s_per_traj']:.1f} traj/s)"
                         f"{acc}; peak RSS {r['rss_mb']:.0f} MB. {r.get('note', '')}")
    lines.append(f"- Accuracy: max over times and states of |y - ref| / max_t |ref| against "
                 f"scipy Radau (rtol 1e-10, atol 1e-12, float64); target {target:g}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small N only: a smoke run")
    ap.add_argument("--max-n", type=int, default=None, help="largest ensemble size")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--ns", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        rows = worker(args.worker, [int(n) for n in args.ns.split(",")], args.dtype,
                      Path(args.tmp))
        (Path(args.tmp) / _file(args.worker)).write_text(json.dumps(rows))
        return

    # scipy's timings should not depend on a BLAS kernel chosen by the environment.
    drop = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if drop:
        env = {k: v for k, v in os.environ.items() if k not in drop}
        print(f"re-running without {', '.join(drop)}", flush=True)
        os.chdir(HERE.parent)
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks", *sys.argv[1:]], env)

    import jax

    from benchmarks._problem import VARY

    backend = jax.default_backend()
    ns = list(GPU_NS if backend == "gpu" else CPU_NS)
    if args.quick:
        ns = [1, 16, 256]
    if args.max_n:
        ns = [n for n in ns if n <= args.max_n]
    dtypes = [args.dtype]
    if backend == "gpu" and args.dtype == "float64" and not args.quick:
        dtypes.append("float32")  # on a GPU both precisions are asked for
    started = time.perf_counter()
    blas = _blas()
    header_bits = [
        f"## {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} — backend {backend}",
        "",
        f"- Machine: {_machine()}; BLAS: {blas}",
        f"- Versions: {_versions()}",
        f"- Problem: sporadic preset, {len(VARY)} rates log-uniform over one decade "
        f"({', '.join(VARY)}), 10 years, 20 output times, rtol 1e-6, atol 1e-9, Tsit5 "
        f"everywhere but scipy; gradient of sum(states^2) w.r.t. the {len(VARY)} log-rates.",
    ]
    print("\n".join(header_bits), flush=True)
    out_text = []
    for dtype in dtypes:
        with tempfile.TemporaryDirectory() as tmp:
            groups = ["scipy"] + [
                "fwd:simulate_batch", "fwd:vmap(simulate)", "grad:simulate_batch",
                "grad:simulate_batch(reverse)", "grad:vmap(simulate)"]
            rows = []
            for group in groups:
                group_ns = [64] if group == "scipy" and not args.quick else ns
                if group == "scipy" and args.quick:
                    group_ns = [8]
                cmd = [sys.executable, "-m", "benchmarks", "--worker", group, "--ns",
                       ",".join(map(str, group_ns)), "--dtype", dtype, "--tmp", tmp]
                print(f"[{time.perf_counter() - started:6.0f} s] {group} ...", flush=True)
                subprocess.run(cmd, check=True, cwd=HERE.parent)
                rows += json.loads((Path(tmp) / _file(group)).read_text())
            text = report(rows, f"### {dtype}{' (quick)' if args.quick else ''}", dtype)
            print(text, flush=True)
            out_text.append(text)
    total = time.perf_counter() - started
    footer = f"- Whole run: {total / 60:.1f} min.\n"
    if backend != "gpu":
        footer += ("- GPU rows: not measured (no GPU was lent in this session); on a GPU the "
                   "same command runs N up to 1,000,000 in float64 and float32.\n")
    print(footer)
    if not args.no_record:
        from alsjax._io import atomic_write_text

        path = HERE / "RESULTS.md"
        old = (path.read_text() if path.exists()
               else "# Benchmark results\n\nAppended by `python -m benchmarks`.\n")
        atomic_write_text(path, old + "\n" + "\n".join(header_bits) + "\n\n"
                          + "\n".join(out_text) + "\n" + footer)


if __name__ == "__main__":
    main()
