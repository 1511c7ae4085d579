"""The population objective and its exact gradient over host devices: `shard_map`
against `NamedSharding`, and one device.

Problem: a synthetic cohort (`alsjax.synthesize("population")`, genotypes and riluzole
arms mixed), random effect on apoptotic_death_rate, nfl_release fixed, as
`fit_population` evaluates it in its line search: the inner problems warm-started at the
optimum of a neighbouring outer point (phi0), evaluated at phi0 + 0.05. Each
configuration compiles once (timed), then the configurations are called in turn
(interleaved, so a change in the machine's load touches them alike), `--repeats` rounds.

Usage: python benchmarks/bench_population_devices.py [--subjects 8] [--host-devices 2]
       [--repeats 7]
"""

import os
import sys

if __name__ == "__main__":
    # Split the CPU into host devices; must be set before JAX initialises.
    n = sys.argv[sys.argv.index("--host-devices") + 1] if "--host-devices" in sys.argv else "2"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={n}")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import alsjax  # noqa: E402
from alsjax._population import cohort_evaluator, make_population  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--host-devices", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        alsjax.write_synthetic(alsjax.synthesize("population", seed=1, n=args.subjects),
                               folder)
        data = alsjax.make_data(alsjax.read_measurements(Path(folder) / "population.csv"))
    pp, _, phi0 = make_population(data, ["apoptotic_death_rate"], estimate=["nfl_release"])
    n = args.host_devices
    configs = {"1 device": dict(devices=1), f"{n} devices, shard_map": dict(
        devices=n, sharding="shard_map"), f"{n} devices, named": dict(devices=n,
                                                                     sharding="named")}
    runs, times = {}, {k: [] for k in configs}
    for name, kw in configs.items():
        fg, compile_s, used = cohort_evaluator(pp, phi0, **kw)
        _, _, out = fg(phi0, np.zeros((args.subjects, 1)))
        runs[name] = (fg, compile_s, out["eta"], used)
    values = {}
    for _ in range(args.repeats):
        for name, (fg, _, eta, _) in runs.items():
            t0 = time.perf_counter()
            value, grad, _ = fg(phi0 + 0.05, eta)
            times[name].append(time.perf_counter() - t0)
            values[name] = (value, grad)
    ref = values["1 device"]
    print(f"{args.subjects} subjects, {args.repeats} interleaved rounds, jax {jax.__version__},"
          f" {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print("| configuration | devices used | compile s | median s | min s | max s | "
          "max rel diff of value, grad |")
    print("|---|---|---|---|---|---|---|")
    for name, (_, compile_s, _, used) in runs.items():
        t = np.asarray(times[name])
        v, g = values[name]
        diff = max(abs(v - ref[0]) / abs(ref[0]),
                   float(np.max(np.abs(g - ref[1]) / np.maximum(np.abs(ref[1]), 1e-300))))
        print(f"| {name} | {used} | {compile_s:.1f} | {np.median(t):.3f} | {t.min():.3f} | "
              f"{t.max():.3f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
