"""Package-level promises: importing alsjax leaves JAX's settings alone, and the library
runs in whichever precision JAX is set to."""

import os
import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_import_changes_no_jax_setting():
    out = _run(
        """
        import jax
        names = ["jax_enable_x64", "jax_platforms", "jax_compilation_cache_dir",
                 "jax_debug_nans", "jax_default_matmul_precision", "jax_numpy_rank_promotion"]
        before = {n: getattr(jax.config, n) for n in names}
        import alsjax, alsjax.cli
        after = {n: getattr(jax.config, n) for n in names}
        print(before == after, after["jax_enable_x64"])
        """
    )
    assert out == "True False"


def test_float32_simulation_close_to_float64():
    """Without x64 everything stays float32; the result is within 1e-3 of float64
    (each state scaled by its largest magnitude over the run)."""
    code = """
        import sys, jax
        if sys.argv[-1] == "64": jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp, numpy as np, alsjax
        sol = alsjax.simulate(alsjax.default_params("SOD1"), jnp.linspace(0, 2000, 41))
        print(sol.ys.dtype); np.save(sys.argv[-2], np.asarray(sol.ys, dtype=np.float64))
        """
    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory() as d:
        for bits in ("32", "64"):
            out = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(code), f"{d}/{bits}.npy", bits],
                capture_output=True, text=True, check=True,
            ).stdout.strip()
            assert out == ("float32" if bits == "32" else "float64")
        y32, y64 = np.load(f"{d}/32.npy"), np.load(f"{d}/64.npy")
    scale = np.max(np.abs(y64), axis=0) + 1e-12
    assert np.max(np.abs(y32 - y64) / scale) < 1e-3


def test_cli_fills_the_persistent_compilation_cache(tmp_path):
    """The CLI's compiled solve reaches JAX's on-disk cache, so a second run skips it."""
    env = dict(os.environ, ALSJAX_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("EQX_ON_ERROR", None)
    subprocess.run(
        [sys.executable, "-m", "alsjax.cli", "simulate", "--days", "400", "--points", "5",
         "--out", str(tmp_path / "run.csv")],
        env=env, capture_output=True, text=True, check=True,
    )
    assert any(p.name.startswith("jit_simulate") for p in (tmp_path / "cache").iterdir())


def test_ci_runs_the_readme_test_command():
    """.ci/run's command is the README's test command, which makes and activates its own
    environment (so it works from a fresh shell)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    ci = (root / ".ci" / "run").read_text().strip().splitlines()[-1]
    readme = (root / "README.md").read_text()
    assert f"\n{ci}\n" in readme
    assert ". .venv/bin/activate" in ci and "-m venv" in ci
