"""The `alsjax` command line: parse, call the library, report.

User mistakes reach the user as one line on stderr and exit code 2 (`ALSJaxError` and
click's usage errors alike); Ctrl-C is one line and exit code 130, within a fraction of a
second at any stage: the work runs in a worker thread and the main thread only waits,
because Python sees a signal only between bytecodes, never during an XLA compilation or
a compiled chunk. The CLI runs in float64 with JAX's persistent compilation cache.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import math
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ._presets import GENOTYPES, LATEST_PRESET, PRESET_VERSIONS, SPECIES


class _OneLineErrors(TyperGroup):
    """Click's usage errors (unknown option, bad value, missing argument) as one line
    `error: ...` and exit code 2, instead of its usage block; Ctrl-C as one line. `alsjax`
    alone prints the help, as click does (exit code 2)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (typer.Abort, KeyboardInterrupt):
            rv = 130
        except Exception as e:
            # Click's UsageError family (typer vendors its own click, so match the
            # contract, not the class): exit code 2 and a message.
            if getattr(e, "exit_code", None) != 2 or not hasattr(e, "format_message"):
                raise
            if type(e).__name__ == "NoArgsIsHelpError":
                # `alsjax` alone: click >= 8.2 raises the help as a usage error; shown as
                # click shows it, not folded onto one line.
                e.show()
            else:
                ctx = getattr(e, "ctx", None)
                where = f"{ctx.command_path}: " if ctx is not None else ""
                message = ' '.join(e.format_message().split()).replace('Value error, ', '')
                typer.echo(f"error: {where}{message}", err=True)
            rv = 2
        if rv == 130:  # typer turns KeyboardInterrupt into exit code 130, silently
            typer.echo(f"error: {INTERRUPTED}", err=True)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


NUMBER_COLUMNS = ("estimate", "std_error", "median", "geometric SD", "subjects")
"""Columns of the results tables kept on one line: a narrow terminal folds the names and
intervals instead (a long `shift:<arm>+<arm>` name once cut every number to "0.0…")."""
NOTE_WIDTH = {"method": 10, "at bound": 8}  # short notes: the width goes to the names
INTERRUPTED = "interrupted (Ctrl-C); nothing was written, earlier outputs are untouched"
RTOL_HELP = ("The ODE solver's relative tolerance (default: the recipe's, else 1e-6). 1e-8 "
             "takes the 1-2% error of a drug efficacy's gradient and SE to under 0.5%.")
ATOL_HELP = "The ODE solver's absolute tolerance (default: the recipe's, else 1e-9)."
BOUND_HELP = ("NAME=LOW,HIGH: bounds of an estimated parameter in physical units, over "
              "the recipe's [bounds] (repeatable; default preset x/÷ 10). Not for "
              "--population, which is unbounded.")
BOUND_POPULATION = ("--bound: a population fit is unbounded on the stored scale; bounds "
                    "apply to a plain fit and to --per-subject")
PLAUSIBLE_HELP = ("Give every estimated parameter without a prior its documented plausible "
                  "range as prior (alsjax.plausible_priors: the population prior of the "
                  "data's genotype and species at the preset version; with --per-subject, "
                  "each subject's own).")
PLAUSIBLE_POPULATION = ("--plausible-priors: a population fit has no priors (the random "
                        "effects' distribution is its prior)")
PROFILE_POPULATION = ("--profile: profiles are not available for a population fit; "
                      "parameters.csv holds Laplace intervals")
OPTIMISER_POPULATION = ("--optimiser: a population fit has its own optimisers (BFGS outside, "
                        "LM for each subject inside)")
ALIGN_HELP = ("Day 0 of the data: the cascade's start or symptom onset (default: the "
              "recipe's, else cascade).")
DISTRIBUTED_HELP = ("Join the other processes of a multi-node run (jax.distributed) before "
                    "the fit; set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, "
                    "JAX_PROCESS_ID, or run under SLURM / Open MPI. Process 0 writes.")

app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="A differentiable mechanistic model of ALS, and the toolkit to fit it to data.",
)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"alsjax {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """A differentiable mechanistic model of ALS, and the toolkit to fit it to data."""


def _setup_jax() -> None:
    """float64 and the persistent compilation cache: CLI runs only, never on import."""
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = os.environ.get("ALSJAX_CACHE_DIR", os.path.expanduser("~/.cache/alsjax/jax"))
    if cache and cache.lower() != "off":
        jax.config.update("jax_compilation_cache_dir", cache)
        # Every program, even a small eager operation: a second run compiles nothing.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def in_worker(fn: Callable[..., Any], *args: Any, on_interrupt: Callable[[], None] | None = None,
              **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` in a worker thread while this (main) thread waits in short
    joins, so Ctrl-C raises `KeyboardInterrupt` here within 0.1 s whatever the worker
    is doing. On Ctrl-C the output lock is taken first (a folder swap in progress
    finishes, none starts later) and `on_interrupt` runs; the worker is abandoned (the
    process exits, `main`)."""
    import signal

    from ._io import WRITE_LOCK, remove_open_temps

    if threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the main thread
            box["error"] = e

    # The handler only sets a flag: a KeyboardInterrupt raised while the main thread runs
    # a garbage-collector callback (JAX registers one) would be swallowed there.
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    worker = threading.Thread(target=target, name="alsjax-run", daemon=True)
    try:
        worker.start()
        while worker.is_alive() and not stop.is_set():
            worker.join(0.1)
    finally:
        signal.signal(signal.SIGINT, previous)
    if stop.is_set():
        WRITE_LOCK.acquire()  # held until the process exits
        remove_open_temps()
        if on_interrupt is not None:
            on_interrupt()
        raise KeyboardInterrupt
    if "error" in box:
        raise box["error"]
    return box.get("value")


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


def reads_once(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A command that reads its data file twice (the run, then the note on its clock)
    parses it once (`_data.reads_remembered`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ._data import reads_remembered

        with reads_remembered():
            return fn(*args, **kwargs)

    return wrapper


# --- simulate / params ----------------------------------------------------------------

Genotype = StrEnum("Genotype", {g: g for g in GENOTYPES})
Species = StrEnum("Species", {s: s for s in SPECIES})
PresetVersion = StrEnum("PresetVersion", {v: v for v in PRESET_VERSIONS})
_LATEST = PresetVersion(LATEST_PRESET)
PRESET_HELP = "Version of the presets: legacy (before calibration) or a dated one."
Optimiser = StrEnum("Optimiser", {o: o for o in ("lm", "lbfgs", "adam")})
Align = StrEnum("Align", {a: a for a in ("cascade", "onset")})
Covariance = StrEnum("Covariance", {c: c for c in ("diagonal", "full")})
SEMethod = StrEnum("SEMethod", {m: m for m in ("auto", "hessian", "opg")})  # SE_METHODS
PopulationStart = StrEnum("PopulationStart", {m: m for m in ("preset", "pooled")})  # STARTS


class TableFormat(StrEnum):
    table = "table"
    csv = "csv"


class PlotFormat(StrEnum):
    png = "png"
    pdf = "pdf"
    svg = "svg"


_DEFAULT_DAYS = {"human": 3650.0, "mouse": 200.0}
_PLOT_SUFFIXES = (".png", ".pdf", ".svg")
_EVENT_MEANING = {
    "onset": "symptom onset (ALSFRS-R / 48 below onset_threshold)",
    "death": "death or permanent ventilation (FVC / 100 below death_threshold)",
    "end_stage": "limb muscle below end_stage_threshold (mouse: both hind limbs paralysed)",
}


def _preset(genotype: Any, species: Any) -> tuple[str, str]:
    """Plain names; the mouse's only genotype is the default when none is given."""
    species = Species(species).value
    if genotype is None:
        return ("SOD1" if species == "mouse" else "sporadic"), species
    return Genotype(genotype).value, species


def _parameter_changes(items: list[str]) -> dict[str, float]:
    """`--set NAME=VALUE` options as {name: physical value}, each checked against its
    parameter's domain; one-line `ALSJaxError`s naming the option."""
    from ._errors import ALSJaxError
    from ._params import parameter_transform

    changes: dict[str, float] = {}
    for item in items:
        name, sep, text = (part.strip() for part in item.partition("="))
        if not sep or not name:
            raise ALSJaxError(f"--set {item!r}: expected NAME=VALUE, e.g. "
                              "respiratory_vulnerability=0.5")
        try:
            transform = parameter_transform(name)
        except ALSJaxError as e:
            raise ALSJaxError(f"--set: {e}") from None
        try:
            value = float(text)
        except ValueError:
            raise ALSJaxError(f"--set {name}: not a number: {text!r}") from None
        transform.check(value, f"--set {name}")
        if name in changes:
            raise ALSJaxError(f"--set {name}: given twice")
        changes[name] = value
    return changes


def _refuse_for_population(bound, plausible_priors, profile, optimiser) -> None:
    """One line for the first option given that a population fit does not take."""
    from ._errors import ALSJaxError

    for given, message in ((bound, BOUND_POPULATION), (plausible_priors, PLAUSIBLE_POPULATION),
                           (profile, PROFILE_POPULATION),
                           (optimiser is not None, OPTIMISER_POPULATION)):
        if given:
            raise ALSJaxError(message)


def _check_seed(seed: int | None) -> None:
    """Refuse a negative `--seed` in one line: NumPy takes seeds >= 0 only, and would stop
    the run later with a traceback."""
    from ._errors import ALSJaxError

    if seed is not None and seed < 0:
        raise ALSJaxError(f"--seed: must be >= 0, got {seed}")


def _check_run(genotype: str, species: str, therapy: str, days: float | None, points: int,
               preset_version: str = LATEST_PRESET, changes: list[str] | None = None):
    """Validate the options of `simulate`; return (params, therapy, times)."""
    import math

    import numpy as np

    from ._errors import ALSJaxError
    from ._model import default_params
    from ._therapy import DRUGS, parse_therapy

    p = default_params(genotype, species, preset_version=preset_version)
    p = p.replace(**_parameter_changes(changes or []))
    try:
        drugs = parse_therapy(therapy)
    except ALSJaxError as e:
        raise ALSJaxError(f"--therapy: {e}") from None
    if genotype != "SOD1" and float(drugs.on[DRUGS.index("tofersen")]) > 0:
        raise ALSJaxError(
            f"--therapy: tofersen targets mutant SOD1, which genotype {genotype!r} does not carry"
        )
    days = _DEFAULT_DAYS[species] if days is None else days
    if not math.isfinite(days) or days <= 0:
        raise ALSJaxError(f"--days: must be a positive number of days, got {days:g}")
    if not 2 <= points <= 100_000:
        raise ALSJaxError(f"--points: must be between 2 and 100000, got {points}")
    return p, drugs, np.linspace(0.0, days, points)


@app.command()
@user_errors
def simulate(
    genotype: Annotated[Genotype | None, typer.Option(
        help="Genotype preset (default: sporadic; SOD1 for mouse).", show_default=False)] = None,
    species: Annotated[Species, typer.Option(help="human, or mouse (SOD1-G93A, days of age).")
                       ] = Species.human,
    therapy: Annotated[str, typer.Option(
        help='Drugs and start days, e.g. "riluzole:0,edaravone:400".')] = "",
    days: Annotated[float | None, typer.Option(
        help="Duration in days (default: 3650 human, 200 mouse).", show_default=False)] = None,
    points: Annotated[int, typer.Option(help="Number of output times.")] = 200,
    out: Annotated[Path, typer.Option(help="Tidy CSV to write (time, observable, value; "
                                      "with --draws a draw column first).")
                   ] = Path("simulation.csv"),
    plot: Annotated[Path | None, typer.Option(help="Optional figure (.png, .pdf or .svg).")
                    ] = None,
    preset_version: Annotated[PresetVersion, typer.Option(help=PRESET_HELP)
                              ] = _LATEST,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", metavar="NAME=VALUE",
        help="Change one parameter from its preset (physical units; repeatable), e.g. "
             "respiratory_vulnerability=0.5. `alsjax params` lists the names.")] = None,
    draws: Annotated[int, typer.Option(
        "--draws", help="Instead of the preset's course, simulate N patients drawn from the "
        "plausible ranges (alsjax.prior: the population prior where the preset version has "
        "one; --set holds a parameter at one value in every draw). Writes every course to "
        "--out, and one row per draw (events, parameters) beside it as NAME_draws.csv.")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the --draws (the same seed, the same "
                                      "draws).")] = 0,
    align: Annotated[Align, typer.Option(
        help="Time from the cascade's start (age, for mice), or from symptom onset (each "
        "draw's own, with --draws) for --days after it, --therapy's days too (draws "
        "without onset within 20 years, 1 for mice, are left out and counted).")
    ] = Align.cascade,
) -> None:
    """Simulate a genotype's default course, or patients drawn from the plausible ranges,
    with optional therapy; write a tidy CSV."""
    from rich.console import Console
    from rich.table import Table

    from ._dataset import ONSET_HORIZON
    from ._errors import ALSJaxError
    from ._report import day_text, plot_simulation, write_simulation_csv
    from ._simulate import FAILURE_REASONS
    from ._simulate import simulate as solve

    _check_seed(seed)
    genotype, species = _preset(genotype, species)
    p, drugs, ts = _check_run(genotype, species, therapy, days, points,
                              PresetVersion(preset_version).value, set_)
    if out.is_dir():
        raise ALSJaxError(f"--out {out}: is a folder, expected a CSV file name")
    if plot is not None and plot.suffix.lower() not in _PLOT_SUFFIXES:
        raise ALSJaxError(f"--plot {plot}: expected a {', '.join(_PLOT_SUFFIXES)} file")
    if draws:
        _check_draws(draws, points)
        return _simulate_draws(genotype, species, therapy, drugs, ts, draws, seed,
                               PresetVersion(preset_version).value, set_, out, plot,
                               Align(align).value)
    import jax
    import numpy as np

    from ._programs import quick_compile_options
    from ._therapy import Therapy, therapy_days

    # One compilation (cached on disk across runs), in a worker so Ctrl-C stays prompt;
    # one course runs in milliseconds, so it compiles the quick way.
    solve = jax.jit(solve, compiler_options=quick_compile_options())
    on_onset = Align(align).value == "onset"
    start = 0.0
    if on_onset:  # the clock, and the therapy's days, from this course's own onset
        found = in_worker(solve, p, np.array([0.0, ONSET_HORIZON[species]]))
        start = float(found.events["onset"])
        if not np.isfinite(start):
            raise ALSJaxError(f"--align onset: no onset within {ONSET_HORIZON[species]:g} "
                              f"days for genotype {genotype!r}, species {species!r}")
        drugs = Therapy(on=drugs.on, start=drugs.start + start)
    sol = in_worker(solve, p, ts + start, drugs)
    if not bool(sol.success):
        reached = ts[np.isfinite(np.asarray(sol.ys)).all(axis=1)]
        until = f" after day {reached[-1]:g}" if reached.size else ""
        raise ALSJaxError(f"the solver failed for genotype {genotype!r}, species {species!r}"
                          f"{until}: {FAILURE_REASONS[int(sol.status)]}")
    events = {k: float(v) - start for k, v in sol.events.items()}
    write_simulation_csv(out, ts, sol.observables)
    if plot is not None:
        what = f"{genotype} ({species})" + (f", {therapy}" if therapy else "")
        what += "".join(f", {item}" for item in set_ or [])
        shown = events if species == "mouse" else {k: events[k] for k in ("onset", "death")}
        in_worker(plot_simulation, plot, ts, sol.observables, shown, what,
                  origin="onset" if on_onset else "age" if species == "mouse"
                  else "cascade start", drugs=therapy_days(therapy))

    clock = ("day after onset" if on_onset else "day of age" if species == "mouse"
             else "day")
    table = Table(title=f"events: {genotype}, {species}", title_justify="left")
    for column in ("event", clock, "meaning"):
        table.add_column(column)
    for name, day in events.items():
        shown = day_text(day, 1) if day != float("inf") else f"not by {ts[-1]:g}"
        table.add_row(name, shown, _EVENT_MEANING[name])
    console = Console()
    console.print(table)
    console.print(f"wrote {out}" + (f" and {plot}" if plot is not None else ""))


MAX_DRAW_VALUES = 2_000_000  # draws x points: the states of every draw stay in memory


def _check_draws(draws: int, points: int) -> None:
    from ._errors import ALSJaxError

    if draws < 0:
        raise ALSJaxError(f"--draws: must be a positive number of patients, got {draws}")
    if draws * points > MAX_DRAW_VALUES:
        raise ALSJaxError(f"--draws {draws} x --points {points}: more than "
                          f"{MAX_DRAW_VALUES:,} points per observable; use fewer, or draw and "
                          "solve in chunks from Python (alsjax.prior(...).sample, "
                          "alsjax.simulate_batch)")


def _simulate_draws(genotype, species, therapy, drugs, ts, n, seed, version, changes, out,
                    plot, align="cascade") -> None:
    """`alsjax simulate --draws N`: N parameter sets from the prior, one batched solve (with
    `align="onset"`, a first solve finds each draw's onset and the second starts there),
    the two CSVs (each atomic, renamed together), a figure and a summary."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from rich.console import Console

    from ._errors import ALSJaxError
    from ._priors import prior
    from ._progress import terminal_progress
    from ._report import draws_table, plot_draws, write_draws
    from ._simulate import FAILURE_REASONS

    params = prior(genotype, species, preset_version=version).sample(jax.random.key(seed), n)
    fixed = _parameter_changes(changes or [])
    params = params.replace(**{k: jnp.full(n, v) for k, v in fixed.items()})
    with terminal_progress() as bar:
        sol, params, left_out, extra = _solve_draws(params, ts, drugs, species, align, bar)
        ok = np.asarray(sol.success)
        if not ok.any():
            raise ALSJaxError(f"the solver failed for every one of the {len(ok)} draws "
                              f"({genotype}, {species}): "
                              f"{FAILURE_REASONS[int(np.asarray(sol.status)[0])]}")
        listed = out.with_name(f"{out.stem}_draws.csv")
        table = in_worker(draws_table, sol, params, extra)
        in_worker(write_draws, out, listed, table, ts, sol, progress=bar,
                  on_interrupt=bar.stop)
    n = len(ok)
    if plot is not None:
        what = (f"{n} draws from the plausible ranges: {genotype} ({species}), seed {seed}"
                + (f", {therapy}" if therapy else "")
                + "".join(f", {item}" for item in changes or []))
        in_worker(plot_draws, plot, ts, sol, what, origin="onset" if align == "onset"
                  else "age" if species == "mouse" else "cascade start")
    _print_draw_events(sol, ts, genotype, species, align, left_out, listed)
    Console().print(f"wrote {out} and {listed}" + (f" and {plot}" if plot is not None else ""))


def _solve_draws(params, ts, drugs, species, align, bar):
    """The draws' batched solve, on the cascade's clock or (`align="onset"`) from each
    draw's onset, found by a first solve; returns (solution, the draws solved, how many
    were left out for want of onset, extra columns of the table of draws)."""
    import dataclasses

    import jax
    import jax.numpy as jnp
    import numpy as np

    from ._batch import simulate_batch
    from ._dataset import ONSET_HORIZON
    from ._errors import ALSJaxError
    from ._therapy import Therapy

    solve = jax.jit(simulate_batch)
    n = int(np.asarray(params.time_scale).shape[0])
    stages = 2 if align == "onset" else 1
    bar("solving", 0, stages)
    if align != "onset":
        sol = in_worker(solve, params, jnp.asarray(ts), drugs, on_interrupt=bar.stop)
        bar("solving", 1, 1)
        return sol, params, 0, {}
    # Therapy days count from each draw's onset on this clock, so the onset is found
    # untreated (a drug started at or after onset cannot move it).
    found = in_worker(solve, params, jnp.asarray([0.0, ONSET_HORIZON[species]]),
                      on_interrupt=bar.stop)
    bar("solving", 1, 2)
    onset = np.asarray(found.events["onset"])
    ill = np.isfinite(onset) & np.asarray(found.success)
    if not ill.any():
        raise ALSJaxError(f"none of the {n} draws ({species}) shows onset within "
                          f"{ONSET_HORIZON[species]:g} days")
    params = jax.tree.map(lambda a: a[ill], params)
    days = onset[ill]
    own = Therapy(on=jnp.broadcast_to(drugs.on, (len(days), drugs.on.shape[-1])),
                  start=days[:, None] + np.asarray(drugs.start)[None, :])
    sol = in_worker(solve, params, jnp.asarray(days[:, None] + ts[None, :]), own,
                    on_interrupt=bar.stop)
    bar("solving", 2, 2)
    # every clock on each draw's own onset: the events too (the table keeps the onset day)
    sol = dataclasses.replace(sol, events={k: v - days for k, v in sol.events.items()})
    return sol, params, n - int(ill.sum()), {"onset_cascade_day": days}


def _print_draw_events(sol, ts, genotype, species, align, left_out, listed) -> None:
    """The events of an ensemble as a table: each event's days (median and 10-90 % of the
    draws reaching it) and how many reach it; failures and draws left out in the title."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from ._dataset import ONSET_HORIZON
    from ._report import day_text

    ok = np.asarray(sol.success)
    n = len(ok)
    clock = ("day after onset" if align == "onset" else "day of age" if species == "mouse"
             else "day")
    notes = [f"{n - int(ok.sum())} failed: see {listed.name}"] if not ok.all() else []
    if left_out:
        notes.append(f"{left_out} without onset within {ONSET_HORIZON[species]:g} days left "
                     "out")
    summary = Table(title=f"events of {int(ok.sum())} draws: {genotype}, {species}"
                    + (f" ({'; '.join(notes)})" if notes else ""), title_justify="left")
    for column in ("event", f"{clock}: median (10-90 %) of those reaching it",
                   f"reached by {ts[-1]:g}", "meaning"):
        summary.add_column(column)
    for name, days in sol.events.items():
        days = np.asarray(days)[ok]
        seen = days[np.isfinite(days)]
        spread = (f"{day_text(np.median(seen))} ({day_text(np.percentile(seen, 10))} to "
                  f"{day_text(np.percentile(seen, 90))})") if seen.size else "-"
        summary.add_row(name, spread, f"{seen.size} of {days.size}", _EVENT_MEANING[name])
    Console().print(summary)


@app.command()
@user_errors
def params(
    genotype: Annotated[Genotype | None, typer.Option(
        help="Preset whose defaults to show (default: sporadic; SOD1 for mouse).",
        show_default=False)] = None,
    species: Annotated[Species, typer.Option(help="Preset species.")] = Species.human,
    format: Annotated[TableFormat, typer.Option(help="table (readable) or csv.")
                      ] = TableFormat.table,
    preset_version: Annotated[PresetVersion, typer.Option(help=PRESET_HELP)
                              ] = _LATEST,
    ranges: Annotated[bool, typer.Option(
        "--ranges", help="Also each parameter's plausible range (alsjax.prior: the "
        "population prior where the preset version has one, whose four death rates are "
        "centred below the preset; docs/model.md): its 95 % interval and its source, or "
        "'guess'.")] = False,
) -> None:
    """List the parameters: name, unit, transform, default (physical value), meaning."""
    import csv

    from ._model import default_params
    from ._params import PARAMETERS, physical

    genotype, species = _preset(genotype, species)
    version = PresetVersion(preset_version).value
    values = physical(default_params(genotype, species, preset_version=version))
    rows = [(i.name, i.unit, i.transform, f"{float(values[i.name]):.6g}", i.doc)
            for i in PARAMETERS]
    header = ("name", "unit", "transform", "default", "meaning")
    if ranges:
        extra = _range_columns(genotype, species, version)
        rows = [(*row[:4], *extra[row[0]], row[4]) for row in rows]
        header = (*header[:4], "low_95", "high_95", "source", header[4])
    if TableFormat(format) is TableFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return
    from rich.console import Console
    from rich.table import Table

    title = f"parameters: {genotype}, {species}, presets {version} (time in days)"
    if ranges:
        from ._priors import POPULATION

        title += "; 95 % ranges of alsjax.prior" + (
            " (the death rates centred below the preset)" if version in POPULATION else "")
    table = Table(title=title, title_justify="left")
    for column in header:  # names never wrap (they are copied into recipes)
        table.add_column(column, no_wrap=column == "name", overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _range_columns(genotype: str, species: str, version: str) -> dict[str, tuple[str, ...]]:
    """name -> (low, high of the 95 % plausible range, source); empty ends where the prior
    holds the parameter fixed."""
    from ._priors import prior, range_of

    p = prior(genotype, species, preset_version=version)
    out = {}
    for name, kind in p.kinds.items():
        r = range_of(name, species)
        if kind == "fixed":  # by its range (a definition, a switch), or a drive not carried
            why = r.source if r.spread is None else f"0: {genotype} lacks this drive"
            out[name] = ("", "", f"fixed ({why})")
        else:
            out[name] = (f"{p.quantile(name, 0.025):.4g}", f"{p.quantile(name, 0.975):.4g}",
                         r.source)
    return out


# --- fit / profile --------------------------------------------------------------------


def _noise_option(values, recipe_noise):
    """`--noise MODEL` (every observable) and/or `--noise OBSERVABLE=MODEL` (repeatable)
    over the recipe's noise: a bare model replaces it, then each pair overrides one key."""
    from ._errors import ALSJaxError
    from ._noise import NOISE_MODELS, noise_models
    from ._observables import OBSERVABLE_NAMES

    bare = [v for v in values if "=" not in v]
    if len(bare) > 1:
        raise ALSJaxError(f"--noise: at most one model for every observable, got "
                          f"{', '.join(bare)}")
    models = dict(zip(OBSERVABLE_NAMES, noise_models(bare[0] if bare else recipe_noise,
                                                     where="--noise"), strict=True))
    pairs: dict[str, str] = {}
    for v in values:
        if "=" in v:
            k, _, m = (x.strip() for x in v.partition("="))
            if k in pairs:
                raise ALSJaxError(f"--noise: {k} is named twice")
            if m not in NOISE_MODELS:
                raise ALSJaxError(f"--noise {v}: expected gaussian or lognormal, got {m!r}")
            pairs[k] = m
    noise_models(pairs, where="--noise")  # one line naming an unknown observable
    models.update(pairs)
    return models


def _bound_option(values) -> dict[str, tuple[float, float]]:
    """`--bound NAME=LOW,HIGH` (repeatable) -> {name: (low, high)}. Only the syntax is
    checked here; `make_problem` checks the name, the order and the parameter's domain."""
    from ._errors import ALSJaxError

    bounds: dict[str, tuple[float, float]] = {}
    for v in values:
        name, _, pair = (x.strip() for x in v.partition("="))
        parts = [x.strip() for x in pair.split(",")]
        try:
            low, high = (float(x) for x in parts)
        except ValueError:
            raise ALSJaxError(f"--bound {v!r}: expected NAME=LOW,HIGH in physical units, "
                              "e.g. --bound onset_threshold=0.05,0.98") from None
        if not name or not (math.isfinite(low) and math.isfinite(high)):
            raise ALSJaxError(f"--bound {v!r}: expected a name and two finite numbers, "
                              "e.g. --bound onset_threshold=0.05,0.98")
        if name in bounds:
            raise ALSJaxError(f"--bound: {name} is named twice")
        bounds[name] = (low, high)
    return bounds


def _preset_note(data, preset_version: str) -> str | None:
    """Where the data file has a truth file beside it (`NAME_truth.json`, as `alsjax synth`
    writes) naming another preset version than the fit's: say so. Fitted under the newest
    presets, data made under 2026.12 send apoptotic_death_rate to its bound."""
    import json

    if data is None:
        return None
    data = Path(data)
    truth = data.with_name(f"{data.stem}_truth.json")
    try:
        made = json.loads(truth.read_text()).get("preset_version")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(made, str) or made == preset_version:
        return None
    return (f"{truth} says these data were made under preset version {made}; this fit used "
            f"{preset_version} (--preset-version {made} fits them as made)")


def _clock_note(source: Path | None, align) -> str | None:
    """A human data file read on the cascade's clock only because --align was not given:
    say so. Synthetic data (`alsjax synth` writes a truth file beside) is on that clock;
    patients' days count from onset or a trial's start, and read as days since the
    cascade's start they fit a different disease without any error."""
    from ._data import read_measurements
    from ._errors import ALSJaxError

    if source is None or source.suffix.lower() == ".toml" or align is not None:
        return None
    if source.with_name(f"{source.stem}_truth.json").exists():
        return None
    try:
        species = read_measurements(source)["species"]
    except (ALSJaxError, OSError):
        return None  # the run itself reports it
    if not (species == "human").any():
        return None
    return (f"{source}: human days are read as days since the cascade's start (the default "
            "--align cascade: the model's own clock, which starts before any symptom); if they "
            "count from symptom onset or a trial's start, pass --align onset")


def _warn(notes) -> None:
    """Each note (None: none) as one `warning:` line on stderr."""
    for note in notes:
        if note:
            typer.echo(f"warning: {note}", err=True)


def _fit_inputs(source, estimate, optimiser, starts, seed, noise, out, profile, max_steps,
                align, points=None, preset_version=None, rtol=None, atol=None, bound=None,
                plausible_priors=False):
    """Recipe (or data file) + command-line overrides -> the recipe to run and the output
    folder. Only the command line's own syntax is checked here; `run_recipe` checks the
    rest."""
    import dataclasses

    from ._errors import ALSJaxError
    from ._recipe import Recipe, default_recipe_path, load_recipe

    if source is None:
        recipe = load_recipe(default_recipe_path())
    elif source.suffix.lower() == ".toml":
        recipe = load_recipe(source)
    else:
        if not estimate:
            raise ALSJaxError(f"{source}: a data file needs --estimate NAME (or use a "
                              "recipe .toml)")
        recipe = Recipe(data=source, estimate=tuple(estimate))
    if noise:
        noise = _noise_option(noise, recipe.noise)
    over = {k: v for k, v in dict(
        estimate=tuple(estimate) if estimate else None,
        optimiser=None if optimiser is None else Optimiser(optimiser).value, starts=starts,
        seed=seed, noise=noise or None, max_steps=max_steps,
        align=None if align is None else Align(align).value,
        profile=tuple(profile) if profile else None, profile_points=points,
        preset_version=None if preset_version is None else PresetVersion(preset_version).value,
    ).items()
        if v is not None}
    recipe = dataclasses.replace(recipe, **over)
    if bound:
        recipe = dataclasses.replace(recipe, bounds={**recipe.bounds, **_bound_option(bound)})
    if plausible_priors:
        recipe = dataclasses.replace(recipe, plausible_priors=True)
    # --rtol / --atol: a population recipe keeps its solver tolerances in [population].
    tolerances = {k: v for k, v in dict(rtol=rtol, atol=atol).items() if v is not None}
    if tolerances and recipe.population is not None:
        recipe = dataclasses.replace(
            recipe, population=dataclasses.replace(recipe.population, **tolerances))
    elif tolerances:
        recipe = dataclasses.replace(recipe, **tolerances)
    out = out if out is not None else Path(recipe.out or "alsjax-fit")
    return recipe, out


def _interval_text(lo: float, hi: float, lower: float, upper: float, profiled: bool) -> str:
    """An interval for the table. A profile that does not cross the threshold on one side
    within the bounds, or a Laplace interval cut at a bound, runs to the bound ("0.6
    (bound)"); a Laplace interval without a
    finite standard error is "undefined". Escaped, or rich would read "[nan, nan]" as
    markup and print nothing."""
    from rich.markup import escape

    if not profiled and not (math.isfinite(lo) and math.isfinite(hi)):
        return "undefined"
    ends = [f"{v:.4g}" if math.isfinite(v) and v != b else f"{b:.4g} (bound)"
            for v, b in ((lo, lower), (hi, upper))]
    return escape(f"[{ends[0]}, {ends[1]}]")


def _laplace_doubtful(result, name: str) -> bool:
    """Whether a Laplace interval deserves a profile: the estimate sits at a bound, the
    interval runs past a bound, or it spans more than a factor 3 either way (a log
    parameter's log-likelihood is then rarely quadratic)."""
    diag = result.diagnostics
    lo, hi = result.ci_low[name], result.ci_high[name]
    if diag is not None and diag.at_bound.get(name):
        return True
    if not (lo == lo and hi == hi):  # NaN: no finite SE
        return True
    if lo <= result.lower[name] or hi >= result.upper[name]:  # cut at a bound
        return True
    return result.transforms[result.names.index(name)] == "log" and \
        result.stored_std_errors[name] * 1.96 > 1.1


def _run(recipe, out: Path, quiet: bool, force: bool = False, plot_format: str = "png"
         ) -> None:
    """Run the recipe and print its table, its warnings and the files written."""
    from ._fit import FitWarning
    from ._io import output_folder_state
    from ._pipeline import run_recipe
    from ._progress import terminal_progress

    before = output_folder_state(out)
    bar = None if quiet else terminal_progress()
    with warnings.catch_warnings(), bar or contextlib.nullcontext():
        # The diagnostics are printed below, one line each, instead of as Python warnings.
        warnings.simplefilter("ignore", FitWarning)
        result = in_worker(run_recipe, recipe, out, progress=bar,
                           command=["alsjax", *sys.argv[1:]], force=force,
                           plot_format=plot_format,
                           on_interrupt=None if bar is None else bar.stop)
    _warn([_preset_note(recipe.data, recipe.preset_version),
           *(result.diagnostics.warnings if result.diagnostics else ()),
           *(p.note for p in result.profiles)])
    if quiet:
        return
    from rich.console import Console
    from rich.table import Table

    profiled = {p.parameter: p for p in result.profiles}
    table = Table(title=f"{result.optimiser}: -log posterior {result.objective:.4g}, "
                  f"{int((~result.start_failed).sum())}/{result.n_starts} starts ok, "
                  f"{result.wall_time:.1f} s ({result.compile_time:.1f} s compiling)")
    for c in ("parameter", "estimate", "std_error", "95% interval", "method", "at bound"):
        _add_column(table, c)
    doubtful = []
    for n in result.names:
        p = profiled.get(n)
        lo, hi = (p.ci_low, p.ci_high) if p else (result.ci_low[n], result.ci_high[n])
        method = "profile" if p else "Laplace"
        if not p and ":" not in n and _laplace_doubtful(result, n):
            doubtful.append(n)
            method += " (doubtful)"
        side = result.diagnostics.bound_side.get(n, "") if result.diagnostics else ""
        table.add_row(n, f"{result.estimates[n]:.4g}", f"{result.std_errors[n]:.3g}",
                      _interval_text(lo, hi, result.lower[n], result.upper[n], p is not None),
                      method, side)
    Console().print(table)
    from ._problem import prior_table

    _echo_priors(prior_table(result.problem))
    if profiled:
        typer.echo("intervals: profile likelihood (likelihood ratio) for "
                   f"{', '.join(profiled)}; Laplace (symmetric on the stored scale) for "
                   "the rest; parameters.csv holds both")
    if doubtful:
        typer.echo("the Laplace interval of " + ", ".join(doubtful) + " may undercover; "
                   "for a profile-likelihood interval add " +
                   " ".join(f"--profile {n}" for n in doubtful))
    written = ", ".join(sorted(p.name for p in Path(out).iterdir()))
    if before == "alsjax":
        typer.echo(f"replaced the earlier alsjax run in {out}/ (as a whole): {written}")
    else:
        typer.echo(f"wrote {out}/: {written}")


def _split_noise_sd(values):
    """`--noise OBSERVABLE=MODEL:SD` fixes that observable's noise SD (per-subject fits):
    the values without the `:SD` parts, and observable -> SD."""
    from ._errors import ALSJaxError

    plain, fixed = [], {}
    for v in values or []:
        k, eq, rest = v.partition("=")
        model, colon, sd = rest.partition(":")
        if not (eq and colon):
            plain.append(v)
            continue
        try:
            fixed[k.strip()] = float(sd)
        except ValueError:
            raise ALSJaxError(f"--noise {v}: expected OBSERVABLE=MODEL:SD with a number SD") \
                from None
        plain.append(f"{k}={model}")
    return plain, fixed


def _run_per_subject(recipe, out: Path, quiet: bool, noise_sd, devices, force,
                     chunk_subjects=None, writer: bool = True) -> None:
    """Per-subject fits of the recipe; print the spread of the estimates. A process
    other than the writer (`--distributed`) computes its share and writes nothing."""
    from ._persubject import run_per_subject

    result = in_worker(run_per_subject, recipe, out if writer else None, noise_sd=noise_sd,
                       devices=devices, chunk_subjects=chunk_subjects,
                       progress=not quiet and writer,
                       command=["alsjax", *sys.argv[1:]], force=force)
    if not writer:
        return
    _warn([_preset_note(recipe.data, recipe.preset_version), *result.bound_notes()])
    if quiet:
        return
    from rich.console import Console
    from rich.table import Table

    over = f" over {result.processes} processes" if result.processes > 1 else ""
    table = Table(title=f"per-subject {result.optimiser}: {len(result.subjects)} subjects, "
                  f"{int(result.converged.sum())} converged, {result.n_failed} failed, "
                  f"{result.devices} device(s){over}, {result.wall_time:.1f} s "
                  f"({result.compile_time:.1f} s compiling)")
    for c in ("parameter", "median", "10th-90th percentile", "geometric SD", "subjects"):
        _add_column(table, c)
    for name, s in result.spread().items():
        def g(x):
            return "-" if x is None else f"{x:.4g}"
        table.add_row(name, g(s["median"]), f"[{g(s['p10'])}, {g(s['p90'])}]",
                      g(s["geometric_sd"]), str(s["n"]))
    Console().print(table)
    _echo_priors(result.priors, result.subject_priors)
    typer.echo(f"wrote {out}/: " + ", ".join(sorted(p.name for p in Path(out).iterdir()
                                                   if not p.name.startswith("."))))


def _echo_priors(shared: dict, per_subject: dict | None = None) -> None:
    """One line naming a fit's priors: name -> (median, GSD), and the names given one per
    subject (`subject_priors` in summary.json); nothing without priors."""
    items = ([f"{n} {m:.4g}, {g:.3g}" for n, (m, g) in shared.items()]
             + [f"{n} one per subject ({len(set(pairs))} distinct, subject_priors)"
                for n, pairs in (per_subject or {}).items()])
    if items:
        typer.echo("priors (median, geometric SD; summary.json): " + "; ".join(items))


def _run_population(source, population, random, estimate, covariate, covariance, noise,
                    starts, seed, max_steps, align, out, quiet, force, devices=None,
                    chunk_subjects=None, writer: bool = True, preset_version=None,
                    se=None, start=None, rtol=None, atol=None) -> None:
    """`alsjax fit DATA --population ...`: fit, write the files, print the table (the
    writer only, under `--distributed`)."""
    from ._errors import ALSJaxError
    from ._population_report import run_population

    if not population and not (source is not None and source.suffix.lower() == ".toml"):
        raise ALSJaxError("--random, --covariate, --covariance, --se and --population-start "
                          "need --population")
    if source is None or source.suffix.lower() == ".toml":
        from ._recipe import with_population

        recipe, out = _fit_inputs(source, estimate, None, starts, seed, noise, out, None,
                                  max_steps, align, preset_version=preset_version,
                                  rtol=rtol, atol=atol)
        recipe = with_population(recipe, population=population, random=random or (),
                                 covariates=covariate or (),
                                 covariance=covariance and Covariance(covariance).value,
                                 se=se and SEMethod(se).value,
                                 start=start and PopulationStart(start).value)
        return _run_population_recipe(recipe, out, quiet, force, "png", devices,
                                      chunk_subjects, writer)
    if not random:
        raise ALSJaxError("--population: name at least one --random parameter")
    out = out if out is not None else Path("alsjax-fit")
    result = in_worker(
        run_population, source, out if writer else None, random=tuple(random),
        estimate=tuple(estimate or ()),
        covariates=tuple(covariate or ()), covariance=Covariance(covariance or "diagonal").value,
        noise=_noise_option(noise, None) if noise else None, n_starts=starts or 1,
        seed=seed or 0, max_steps=max_steps or 100,
        align=Align(align or "cascade").value,
        preset_version=PresetVersion(preset_version or LATEST_PRESET).value,
        progress=not quiet and writer,
        command=["alsjax", *sys.argv[1:]], force=force, devices=devices,
        chunk_subjects=chunk_subjects, se=SEMethod(se or "auto").value,
        start=PopulationStart(start or "preset").value, rtol=rtol, atol=atol)
    if writer:
        _warn([_preset_note(source, PresetVersion(preset_version or LATEST_PRESET).value)])
    if not quiet and writer:
        _population_table(result, out)


def _run_population_recipe(recipe, out: Path, quiet: bool, force: bool,
                           plot_format: str = "png", devices=None, chunk_subjects=None,
                           writer: bool = True) -> None:
    """A recipe with a [population] table (or --population): `run_recipe`, the table
    (the writer only, under `--distributed`)."""
    from ._pipeline import run_recipe

    result = in_worker(run_recipe, recipe, out if writer else None,
                       progress=not quiet and writer, command=["alsjax", *sys.argv[1:]],
                       force=force, plot_format=plot_format, devices=devices,
                       chunk_subjects=chunk_subjects)
    if writer:
        _warn([_preset_note(recipe.data, recipe.preset_version)])
    if not quiet and writer:
        _population_table(result, out)


def _population_table(result, out: Path) -> None:
    """Print a population fit's estimates and the files written."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"population (Laplace / FOCE-I): -2 log L {result.minus2ll:.6g}, "
                  f"{result.n_subjects - result.n_failed}/{result.n_subjects} subjects solved, "
                  f"{result.wall_time:.1f} s ({result.compile_time:.1f} s compiling)")
    for c in ("parameter", "estimate", "std_error", "95% CI"):
        _add_column(table, c)
    for n in result.names:
        table.add_row(n, f"{result.estimates[n]:.4g}", f"{result.std_errors[n]:.3g}",
                      _interval_text(result.ci_low[n], result.ci_high[n], -math.inf,
                                     math.inf, profiled=False))
    Console().print(table)
    if not result.converged:
        from ._population import convergence_note

        typer.echo(f"warning: {convergence_note(result)}", err=True)
    typer.echo(f"wrote {out}/: " + ", ".join(sorted(p.name for p in Path(out).iterdir()
                                                   if not p.name.startswith("."))))


def _check_out_everywhere(out: Path, force: bool, writer: bool) -> None:
    """`--distributed`: process 0 checks its output folder and every process learns the
    outcome, so none starts a fit that process 0 has refused."""
    from ._distributed import all_agree
    from ._errors import ALSJaxError
    from ._io import check_output_folder

    error = None
    if writer:
        try:
            check_output_folder(out, force=force)
        except ALSJaxError as e:
            error = e
    if not all_agree(error is None):
        raise error if error is not None else ALSJaxError(
            "--distributed: process 0 stopped before the fit (see its error)")


@app.command("fit")
@user_errors
@reads_once
def fit_command(
    source: Annotated[Path | None, typer.Argument(
        help="A recipe (.toml) or a measurement file (.csv/.tsv); default: the shipped "
        "fit/default.toml.")] = None,
    estimate: Annotated[list[str] | None, typer.Option(
        "--estimate", help="Parameter to estimate (repeat for several).")] = None,
    optimiser: Annotated[Optimiser | None, typer.Option(
        help="Levenberg-Marquardt (lm), L-BFGS or Adam (default: the recipe's, else lm).",
        show_default=False)] = None,
    starts: Annotated[int | None, typer.Option(
        help="Number of multistart starts (default: the recipe's; for a data file 8, or 1 "
        "with --population).", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(
        help="Seed of the quasi-random starts, >= 0 (default: the recipe's, else 0).",
        show_default=False)] = None,
    noise: Annotated[list[str] | None, typer.Option(
        "--noise", help="gaussian or lognormal for every observable, OBSERVABLE=MODEL for "
        "one, or OBSERVABLE=MODEL:SD for one with a fixed noise SD (--per-subject; e.g. "
        "alsfrs_r=gaussian:1.5); repeatable; default: NfL lognormal, the rest gaussian.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default alsjax-fit).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar or table.")] = False,
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", help="Also profile this estimated parameter (repeatable).")] = None,
    max_steps: Annotated[int | None, typer.Option(
        help="Optimiser steps per start (default: the recipe's; for a data file 200, or 100 "
        "outer steps with --population).", show_default=False)] = None,
    align: Annotated[Align | None, typer.Option(
        help=ALIGN_HELP,
        show_default=False)] = None,
    per_subject: Annotated[bool, typer.Option(
        "--per-subject", help="Fit every subject separately, all in one batch.")] = False,
    devices: Annotated[int | None, typer.Option(
        help="Devices sharing the subjects of a per-subject or population fit: the first N "
        "that JAX lists, of every process under --distributed (default: all).",
        show_default=False)] = None,
    chunk_subjects: Annotated[int | None, typer.Option(
        help="Subjects per chunk, for a cohort too large for device memory "
        "(--per-subject or --population; default: all at once, or 2000 for a population "
        "fit on the CPU).", show_default=False)] = None,
    distributed: Annotated[bool, typer.Option(
        "--distributed", help=DISTRIBUTED_HELP)] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an --out folder that holds other files (deleting them).")
    ] = False,
    plot_format: Annotated[PlotFormat, typer.Option(
        help="Format of the fit figure.")] = PlotFormat.png,
    population: Annotated[bool, typer.Option(
        "--population", help="Mixed-effects population fit (Laplace / FOCE-I).")] = False,
    random: Annotated[list[str] | None, typer.Option(
        "--random", help="Parameter with a random effect per subject (--population; "
        "repeatable).")] = None,
    covariate: Annotated[list[str] | None, typer.Option(
        "--covariate", help="NAME~COLUMN: effect of a data column on a parameter "
        "(--population; repeatable).")] = None,
    covariance: Annotated[Covariance | None, typer.Option(
        help="Random effects independent (diagonal) or correlated (full); default: the "
        "recipe's, else diagonal.",
        show_default=False)] = None,
    se: Annotated[SEMethod | None, typer.Option(
        "--se", help="Population SEs from the Hessian of -2 log L (central differences, "
        "2 x P cohort evaluations) or the subjects' outer product of gradients (opg, "
        "free). Default auto: the Hessian up to 500 subjects.", show_default=False)
    ] = None,
    population_start: Annotated[PopulationStart | None, typer.Option(
        "--population-start", help="Where the population values start: the presets, or "
        "a naive pooled fit's estimates (fitted first; for data far from the presets). "
        "Default: the recipe's, else preset.", show_default=False)
    ] = None,
    preset_version: Annotated[PresetVersion | None, typer.Option(
        help=PRESET_HELP + " Default: the recipe's, else the newest.", show_default=False)
    ] = None,
    rtol: Annotated[float | None, typer.Option(help=RTOL_HELP, show_default=False)] = None,
    atol: Annotated[float | None, typer.Option(help=ATOL_HELP, show_default=False)] = None,
    bound: Annotated[list[str] | None, typer.Option("--bound", help=BOUND_HELP)] = None,
    plausible_priors: Annotated[bool, typer.Option(
        "--plausible-priors", help=PLAUSIBLE_HELP)] = False,
) -> None:
    """Fit the cascade to time-course data: estimates, 95% intervals, plots, PEtab table."""
    from ._errors import ALSJaxError

    _check_seed(seed)
    if chunk_subjects is not None and chunk_subjects < 1:
        raise ALSJaxError(f"--chunk-subjects must be >= 1, got {chunk_subjects}")
    population_only = (covariance, se, population_start)
    if per_subject and (population or random or covariate
                        or any(v is not None for v in population_only)):
        raise ALSJaxError("--per-subject fits each subject on its own: drop --population, "
                          "--random, --covariate, --covariance, --se and --population-start")
    mixed_effects = (population or random or covariate
                     or any(v is not None for v in population_only))
    writer = True
    if distributed:
        if not (per_subject or mixed_effects):
            raise ALSJaxError("--distributed needs --per-subject or --population")
        from ._distributed import initialize_distributed, is_writer

        initialize_distributed()  # before anything touches a device
        writer = is_writer()
    if mixed_effects:
        _refuse_for_population(bound, plausible_priors, profile, optimiser)
        if distributed:
            _check_out_everywhere(out or Path("alsjax-fit"), force, writer)
        _run_population(source, population, random, estimate, covariate, covariance,
                        noise, starts, seed, max_steps, align, out, quiet, force,
                        devices, chunk_subjects, writer, preset_version, se,
                        population_start, rtol, atol)
        _warn([_clock_note(source, align) if writer else None])
        return
    noise, noise_sd = _split_noise_sd(noise)
    if not per_subject and noise_sd:
        raise ALSJaxError("--noise OBSERVABLE=MODEL:SD (a fixed noise SD) need --per-subject")
    recipe, out = _fit_inputs(source, estimate, optimiser, starts, seed, noise, out, profile,
                              max_steps, align, preset_version=preset_version,
                              rtol=rtol, atol=atol, bound=bound,
                              plausible_priors=plausible_priors)
    if not per_subject and recipe.population is not None:
        _refuse_for_population(bound, plausible_priors, profile, optimiser)
    if (not per_subject and recipe.population is None
            and (devices is not None or chunk_subjects is not None)):
        raise ALSJaxError("--devices and --chunk-subjects need --per-subject or --population")
    if distributed:
        _check_out_everywhere(out, force, writer)
    if per_subject:
        _run_per_subject(recipe, out, quiet, noise_sd, devices, force, chunk_subjects, writer)
    elif recipe.population is not None:
        _run_population_recipe(recipe, out, quiet, force, PlotFormat(plot_format).value,
                               devices, chunk_subjects, writer)
    else:
        _run(recipe, out, quiet, force, PlotFormat(plot_format).value)
    # After a run that succeeded: a command stopped by bad input prints its one line only.
    _warn([_clock_note(source, align) if writer else None])


@app.command("profile")
@user_errors
@reads_once
def profile_command(
    source: Annotated[Path, typer.Argument(help="A recipe (.toml) or a measurement file.")],
    parameter: Annotated[list[str], typer.Option(
        "--parameter", help="Parameter to profile (repeatable).")],
    points: Annotated[int, typer.Option(help="Grid points per profile.")] = 11,
    estimate: Annotated[list[str] | None, typer.Option(
        "--estimate", help="Parameters to estimate (default: the recipe's, or the "
        "profiled ones).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default alsjax-fit).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar or table.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an --out folder that holds other files (deleting them).")
    ] = False,
    preset_version: Annotated[PresetVersion | None, typer.Option(
        help=PRESET_HELP + " Default: the recipe's, else the newest.", show_default=False)
    ] = None,
    rtol: Annotated[float | None, typer.Option(help=RTOL_HELP, show_default=False)] = None,
    atol: Annotated[float | None, typer.Option(help=ATOL_HELP, show_default=False)] = None,
    bound: Annotated[list[str] | None, typer.Option("--bound", help=BOUND_HELP)] = None,
    plausible_priors: Annotated[bool, typer.Option(
        "--plausible-priors", help=PLAUSIBLE_HELP)] = False,
    align: Annotated[Align | None, typer.Option(
        help=ALIGN_HELP,
        show_default=False)] = None,
) -> None:
    """Profile likelihoods: re-optimise the other parameters on a grid of one."""
    est = estimate or (None if source.suffix.lower() == ".toml" else parameter)
    recipe, out = _fit_inputs(source, est, None, None, None, None, out, parameter, None, align,
                              points=points, preset_version=preset_version, rtol=rtol,
                              atol=atol, bound=bound, plausible_priors=plausible_priors)
    _run(recipe, out, quiet, force)
    _warn([_clock_note(source, align)])


# --- synth ----------------------------------------------------------------------------


@app.command()
@user_errors
def synth(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Datasets to generate: human_cohort, mouse_sod1, small_human, "
                       "population, prior_cohort (default: all)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the CSVs and truth files.")] = Path(
        "data/synthetic"
    ),
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 0,
    n: Annotated[
        int | None, typer.Option("--n", "--subjects",
                                 help="Number of subjects (default: each dataset's own).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="Print nothing on success.")] = False,
    preset_version: Annotated[PresetVersion, typer.Option(help=PRESET_HELP)] = _LATEST,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace datasets in --out made with another seed, size, version or "
        "genotype mix.")
    ] = False,
    genotype_mix: Annotated[str | None, typer.Option(
        help="prior_cohort only: each mutation's share of the subjects, e.g. "
        "'SOD1=0.5,C9orf72=0.2' (sporadic: the rest; default 5 % C9orf72, 3 % SOD1, 1 % "
        "TARDBP, 1 % FUS).")
    ] = None,
) -> None:
    """Generate synthetic datasets with their ground truth (seeded, reproducible)."""
    from ._errors import ALSJaxError
    from ._synth import DATASETS, check_dataset, check_replaceable, synthesize, write_synthetic

    _check_seed(seed)
    if out.exists() and not out.is_dir():
        raise ALSJaxError(f"--out {out}: exists and is not a folder")
    names = names or list(DATASETS)
    for name in names:
        check_dataset(name, n)
    mix = None
    if genotype_mix is not None:
        if names != ["prior_cohort"]:
            raise ALSJaxError("--genotype-mix: applies to prior_cohort alone; name only it")
        mix = _genotype_mix(genotype_mix)
    # Generate everything before writing anything: a failure leaves no files.
    version = PresetVersion(preset_version).value
    made = [synthesize(name, seed=seed, n=n, preset_version=version,
                       **({"genotype_mix": mix} if mix is not None else {}))
            for name in names]
    if not force:
        for s in made:
            check_replaceable(s, out)
    for s in made:
        for path in write_synthetic(s, out):
            if not quiet:
                typer.echo(f"wrote {path}")


Download = StrEnum("Download", {d: d for d in ("proact", "answer-als")})


@app.command()
@user_errors
def convert(
    source: Annotated[Download, typer.Argument(
        help="Whose download: proact or answer-als.")],
    download: Annotated[Path, typer.Argument(
        help="The download folder (or one table's CSV file).")],
    out: Annotated[Path, typer.Option(help="The tidy CSV to write (atomically).")] = Path(
        "measurements.csv"),
    align: Annotated[str, typer.Option(
        help="Day 0 of the written days: onset (symptom onset, needs the ALS history "
        "table), or the download's own clock: trial (proact) or screening (answer-als).")
    ] = "onset",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")
                     ] = False,
    quiet: Annotated[bool, typer.Option(help="Print nothing on success.")] = False,
) -> None:
    """Turn your own PRO-ACT or Answer ALS download into the tidy CSV that `alsjax fit`
    reads (data/published/README.md: which tables and columns are read)."""
    from ._answer_als import ALIGNS as ANSWER_ALS_ALIGNS
    from ._answer_als import read_answer_als
    from ._data import write_measurements
    from ._errors import ALSJaxError
    from ._proact import ALIGNS as PROACT_ALIGNS
    from ._proact import read_proact

    reader, aligns = ((read_proact, PROACT_ALIGNS) if source == Download.proact
                      else (read_answer_als, ANSWER_ALS_ALIGNS))
    if align not in aligns:
        raise ALSJaxError(f"--align: {source.value} days can start at "
                          f"{' or '.join(aligns)}, not {align!r}")
    if out.exists() and not force:
        raise ALSJaxError(f"--out {out}: exists; choose another file, or pass --force to "
                          "replace it")
    if out.is_dir():
        raise ALSJaxError(f"--out {out}: is a folder; name the CSV file to write")
    tidy = reader(download, align=align)
    write_measurements(tidy, out)
    if quiet:
        return
    counts = tidy["observable"].value_counts()
    rows = ", ".join(f"{counts[k]} {k}" for k in sorted(counts.index))
    typer.echo(f"wrote {out}: {tidy['subject'].nunique()} subjects, {rows or 'no rows'}")
    dropped = {k: v for k, v in tidy.attrs.get("dropped", {}).items() if v}
    if dropped:
        typer.echo("left out: " + ", ".join(f"{v} {k.replace('_', ' ')}"
                                            for k, v in dropped.items()))
    if align == "onset":
        typer.echo(f"next: alsjax fit {out} --estimate NAME --align onset")
    else:
        typer.echo(f"note: days count from the {align}; `alsjax fit` reads them as days "
                   "from the cascade's start (convert with --align onset to fit them as "
                   "days from onset)")


def _genotype_mix(text: str) -> dict[str, float]:
    """'SOD1=0.5,C9orf72=0.2' -> {"SOD1": 0.5, "C9orf72": 0.2}; one line for a bad item."""
    from ._errors import ALSJaxError

    mix = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, share = (x.strip() for x in item.partition("="))
        if name in mix:
            raise ALSJaxError(f"--genotype-mix: {name} is named twice")
        try:
            mix[name] = float(share)
        except ValueError:
            raise ALSJaxError(f"--genotype-mix: expected GENOTYPE=SHARE, got {item!r}") from None
    return mix


def _add_column(table, column: str) -> None:
    """A results table's column: numbers whole; on a narrow terminal the names, intervals
    and notes fold instead (rich would otherwise cut numbers to "0.0…")."""
    table.add_column(column, no_wrap=column in NUMBER_COLUMNS, overflow="fold",
                     max_width=NOTE_WIDTH.get(column))


def main() -> None:
    """Entry point of the `alsjax` script."""
    # Equinox's runtime checks are host callbacks, and JAX never writes an executable
    # with host callbacks to the persistent cache. The CLI validates its input before any
    # solve and reads failures from results, so it turns them into NaN; set before
    # equinox is first imported (the package imports it lazily).
    os.environ.setdefault("EQX_ON_ERROR", "nan")
    try:
        app(prog_name="alsjax")
    except KeyboardInterrupt:  # before the command began (imports)
        typer.echo(f"error: {INTERRUPTED}", err=True)
        code = 130
    except SystemExit as e:
        if e.code is not None and not isinstance(e.code, int):
            raise
        code = e.code or 0
    else:
        code = 0
    # Interrupted: a worker thread may still be inside XLA; leave without waiting for it
    # (its outputs are held back by the output lock, see `in_worker`).
    _leave(code, clean=code != 130)


def _leave(code: int, clean: bool) -> None:
    """End the process without the interpreter's finalisation.

    Finalising frees every module and compiled program one by one: 0.5-0.7 s after a
    fit, a sixth of a warm `alsjax fit` (`benchmarks/RESULTS.md`, 2026-12-06). Every
    output is written and renamed by then. `clean` does what a normal exit does first:
    waits for non-daemon threads and runs the exit handlers (JAX's among them, such as
    `jax.distributed`'s shutdown, and logging's flush).
    """
    if clean:
        # The command is done and its outputs written: a Ctrl-C from here on ends the
        # process at once with its code, instead of interrupting an exit handler of JAX's
        # mid-way (a traceback after a successful command).
        signal.signal(signal.SIGINT, lambda *_: os._exit(code))
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe (`alsjax params | head`)
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
