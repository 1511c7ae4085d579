"""The `alsjax` command line: parse, call the library, report.

User mistakes reach the user as one line on stderr and exit code 2 (`ALSJaxError`);
the CLI runs in float64.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="A differentiable mechanistic model of ALS, and the toolkit to fit it to data.",
)


def _setup_jax() -> None:
    """float64 and the persistent compilation cache: CLI runs only, never on import."""
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = os.environ.get("ALSJAX_CACHE_DIR", os.path.expanduser("~/.cache/alsjax/jax"))
    if cache and cache.lower() != "off":
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn `ALSJaxError` (and unreadable files) into one line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ._errors import ALSJaxError

        _setup_jax()
        try:
            return fn(*args, **kwargs)
        except ALSJaxError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
            typer.echo(f"error: {e.filename}: {e.strerror}", err=True)
            raise typer.Exit(2) from None

    return wrapper


# --- simulate / params ----------------------------------------------------------------


# --- fit / profile --------------------------------------------------------------------


# --- synth ----------------------------------------------------------------------------


@app.command()
@user_errors
def synth(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Datasets to generate: human_cohort, mouse_sod1, small_human "
                       "(default: all)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the CSVs and truth files.")] = Path(
        "data/synthetic"
    ),
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 0,
    n: Annotated[
        int | None, typer.Option(help="Number of subjects (default: each dataset's own).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="Print nothing on success.")] = False,
) -> None:
    """Generate synthetic datasets with their ground truth (seeded, reproducible)."""
    from ._errors import ALSJaxError
    from ._synth import DATASETS, check_dataset, synthesize, write_synthetic

    if out.exists() and not out.is_dir():
        raise ALSJaxError(f"--out {out}: exists and is not a folder")
    names = names or list(DATASETS)
    for name in names:
        check_dataset(name, n)
    # Generate everything before writing anything: a failure leaves no files.
    made = [synthesize(name, seed=seed, n=n) for name in names]
    for s in made:
        for path in write_synthetic(s, out):
            if not quiet:
                typer.echo(f"wrote {path}")


def main() -> None:
    """Entry point of the `alsjax` script."""
    app(prog_name="alsjax")


if __name__ == "__main__":
    sys.exit(main())
