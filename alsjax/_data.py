"""Measurements in: read and validate a tidy CSV or a PEtab measurement table.

Every problem is one `ALSJaxError` line that names the file, the row (the line number in
the file, header = 1) and the field, so a user can go straight to the cell at fault.

**The canonical frame** (`read_measurements` returns it, `write_measurements` writes it):

| column | type | meaning |
|---|---|---|
| `row` | int | line number in the source file (header = 1, first data row = 2) |
| `subject` | str | subject, or arm for a summary row |
| `time` | float | days (from the data's own origin: onset, enrolment, cascade start, age) |
| `observable` | str | one of `OBSERVABLE_NAMES` or `EVENT_NAMES` |
| `value` | float | the measurement; events: 1 = event at `time`, 0 = censored then |
| `sigma` | float | measurement SD (summaries: standard error; events: SD of log day) |
| `genotype` | str | default "sporadic" ("SOD1" for mouse) |
| `species` | str | default "human" |
| `therapy` | str | normalised "riluzole:0,edaravone:180" on the `time` clock, "" for none |
| `therapy_start` | float | as given (day of a single-drug `therapy`); NaN if absent |
| `n` | float | subjects behind a summary row; NaN for individual rows |
| `lloq` | float | lower limit of quantification; NaN if none |
| `kind` | str | "event", "event_summary" (with `n`), "summary" (`n`), "measurement" |
| ... | str | every other column, kept as a covariate |

`sigma` is NaN where not given. **Event summaries** stand for a trial arm's survival
curve: an event row with `n` gives in `value` the fraction of the arm's n subjects with
the event by `time` (1 - Kaplan-Meier), one row per published time point; the likelihood
treats the arm as one course with a spread of event days between its subjects
(`alsjax._likelihood`).

Subject-level fields (genotype, species, therapy) left empty on some rows take the value
the subject's other rows give; rows of one subject that still disagree are an error.
A subject has *no usable rows* when every row it has is an event censored at time 0
(value 0 at day 0 says nothing); that is an error, while a subject with only event rows
(survival data) is fine.

Numbers must be physically possible: a measurement lies in its observable's
`OBSERVABLE_RANGES` entry (ALSFRS-R 0-48, fractions 0-1, NfL > 0 ...) unless it is below
its row's `lloq` (a censored reading); `time` is at most the species' `TIME_HORIZON`;
`sigma` is narrower than the observable's whole range and `lloq` inside it. Two rows
equal in every column are an error naming both (replicates at one time with different
values are fine).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import ALSJaxError, did_you_mean
from ._io import atomic_open
from ._observables import EVENT_NAMES, OBSERVABLE_NAMES, OBSERVABLE_RANGES, TIME_HORIZON
from ._presets import GENOTYPES, SPECIES
from ._therapy import format_therapy, therapy_days

REQUIRED: tuple[str, ...] = ("subject", "time", "observable", "value")
OPTIONAL: tuple[str, ...] = (
    "sigma", "genotype", "species", "therapy", "therapy_start", "n", "lloq",
)
CANONICAL: tuple[str, ...] = ("row", *REQUIRED, *OPTIONAL, "kind")
"""The canonical columns, in order; covariates follow."""

PETAB_COLUMNS: dict[str, str] = {
    "observableId": "observable",
    "simulationConditionId": "subject",
    "time": "time",
    "measurement": "value",
}
"""PEtab measurement-table columns and the canonical column each becomes."""

_FLOAT_FORMAT = "%.10g"


def _fail(name: str, row: int | None, field: str | None, problem: str) -> ALSJaxError:
    where = [name]
    if row is not None:
        where.append(f"row {row}")
    if field is not None:
        where.append(f"field {field!r}")
    return ALSJaxError(f"{', '.join(where)}: {problem}")


def _read_text(path: Path, name: str) -> str:
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise _fail(name, None, None, "is a directory, not a data file") from None
    if b"\x00" in raw[:8192]:
        raise _fail(name, None, None, "unreadable: a binary file, not a CSV/TSV text table")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _fail(name, None, None, f"unreadable: not UTF-8 text (byte {e.start})") from None
    if not text.strip():
        raise _fail(name, None, None, "empty file: expected a header line "
                    "'subject,time,observable,value' and data rows")
    return text


def _parse_table(text: str, path: Path, name: str) -> pd.DataFrame:
    # The first non-blank line, found lazily (splitlines would copy a large file first).
    first = next(m.group() for m in re.finditer(r"[^\r\n]+", text) if m.group().strip())
    sep = "\t" if path.suffix.lower() == ".tsv" or ("\t" in first and "," not in first) else ","
    header, header_line, rows, lines = _plain_records(text, sep) or _records(text, sep, name)
    seen: set[str] = set()
    for h in header:
        if h == "":
            raise _fail(name, header_line, None, "a column has an empty name in the header")
        if h in seen:
            raise _fail(name, header_line, h, f"duplicated column {h!r} in the header")
        seen.add(h)
    if not len(rows):
        raise _fail(name, None, None, "no data rows after the header")
    df = pd.DataFrame(rows, columns=header, dtype=object)
    df.insert(0, "row", np.asarray(lines, dtype=int))
    cols = header
    repeated = (df[cols] == pd.Series(cols, index=cols)).all(axis=1)
    if repeated.any():
        raise _fail(name, int(df.loc[repeated.idxmax(), "row"]), None,
                    "the header line appears again as a data row (were two files joined?)")
    return df


def _records(text: str, sep: str, name: str) -> tuple[list[str], int, list[list[str]], list[int]]:
    """Header, its line, the non-blank rows (fields stripped, padded to the header's
    length) and each row's line in the file, by the csv module: it tracks the line each
    record ends on, so rows are named by their line (header = 1) even with blank lines or
    quoted line breaks."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header, header_line, rows, lines = None, 1, [], []
    ended = 0  # the line the previous record ended on
    try:
        for record in reader:
            if any("\n" in f and sep in f for f in record):
                # A quoted field that holds whole lines of the table: its quote never closed.
                raise _fail(name, ended + 1, None, "a quote opened on this line is not "
                            f"closed (the field runs on to line {reader.line_num})")
            ended = reader.line_num
            record = [f.strip() for f in record]
            if not any(record):
                continue
            if header is None:
                header, header_line = record, reader.line_num
                continue
            if len(record) > len(header) and any(record[len(header):]):
                raise _fail(name, reader.line_num, None, f"expected {len(header)} fields, "
                            f"found {len(record)}{_separator_hint(header, name)}")
            rows.append((record + [""] * len(header))[: len(header)])
            lines.append(reader.line_num)
    except csv.Error as e:
        raise _fail(name, reader.line_num, None, f"unreadable table: {e}") from None
    assert header is not None  # the text is not blank
    return header, header_line, rows, lines


def _separator_hint(header: list[str], name: str) -> str:
    """`; the header seems to be separated by ...` where the header's names hold another
    separator than the one read (a spreadsheet's semicolons, a CSV named .tsv), else ""."""
    text = "".join(header)
    for sep, what in ((";", "semicolons"), ("\t", "tabs"), (",", "commas")):
        if sep in text:
            read = ("a .tsv file as tab-separated" if name.lower().endswith(".tsv")
                    else "commas (tabs in a .tsv file)")
            return f"; the header seems to be separated by {what}: alsjax reads {read}"
    return ""


def _plain_records(text: str, sep: str) -> tuple[list[str], int, np.ndarray, np.ndarray] | None:
    """`_records` through pandas' C parser (a million rows: under 1 s, against 7.5 s), for a
    table that needs none of the csv module's care: no quotes, no NUL byte, the header on
    line 1, no line ending in a lone carriage return, no row longer than the header. None
    for any other table (`_records` reads it, and names the row of any error)."""
    line_1 = text[:text.find("\n")] if "\n" in text else text
    if '"' in text or "\x00" in text or not line_1.strip() or (
            text.count("\r") != text.count("\r\n")):
        return None
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str,
                            na_filter=False, skip_blank_lines=False, engine="c")
    except (pd.errors.ParserError, ValueError):  # a longer row, anything unexpected
        return None
    columns = [table[c].fillna("") for c in table.columns]
    blanks = (" ", "\x0b", "\x0c") + (() if sep == "\t" else ("\t",))
    if not text.isascii() or any(b in text for b in blanks):  # else nothing to strip
        columns = [c.str.strip() for c in columns]
    cells = np.column_stack([c.to_numpy(dtype=object) for c in columns])
    keep = (cells != "").any(axis=1)
    keep[0] = False  # the header
    return list(cells[0]), 1, cells[keep], np.flatnonzero(keep) + 1


def _canonical_names(df: pd.DataFrame, name: str) -> pd.DataFrame:
    lower = {c.lower(): c for c in df.columns if c != "row"}
    if "observableid" in lower or "simulationconditionid" in lower or "measurement" in lower:
        rename = {}
        for petab, canon in PETAB_COLUMNS.items():
            if petab.lower() not in lower:
                found = did_you_mean(petab, [c for c in df.columns if c != "row"])
                raise _fail(name, 1, None, f"missing PEtab column {petab!r}"
                            f"{found.replace('did you mean', 'found')}")
            rename[lower[petab.lower()]] = canon
        for c in ("subject", "observable", "value"):
            if c in df.columns:
                raise _fail(name, 1, c, f"column {c!r} clashes with the PEtab columns")
        df = df.rename(columns=rename)
        if "noiseparameters" in lower:
            noise = df.pop(lower["noiseparameters"])
            numeric = pd.to_numeric(noise, errors="coerce")
            # A parameter name (e.g. sigma_nfl) means "estimate it": no fixed SD here.
            df["sigma"] = np.where(numeric.notna(), noise, "")
        return df
    known = {c.lower(): c for c in REQUIRED + OPTIONAL}
    df = df.rename(columns={c: known[c.lower()] for c in df.columns if c.lower() in known})
    for c in REQUIRED:
        if c not in df.columns:
            others = [k for k in df.columns if k not in REQUIRED + OPTIONAL and k != "row"]
            found = did_you_mean(c, others).replace("did you mean", "found")
            raise _fail(name, 1, None, f"missing column {c!r}{found}; required columns are "
                        f"{', '.join(REQUIRED)}"
                        f"{_separator_hint([k for k in df.columns if k != 'row'], name)}")
    return df


def _numbers(df: pd.DataFrame, col: str, name: str, *, required: bool,
             rows: np.ndarray | None = None) -> np.ndarray:
    """A column as floats (NaN where empty and optional); bad cells raise with their row
    (`rows`: the line each cell was written on, where it differs from the row's own)."""
    rows = df["row"].to_numpy() if rows is None else rows
    text = df[col] if col in df.columns else None
    empty = np.ones(len(df), bool) if text is None else (text == "").to_numpy()
    values = np.full(len(df), np.nan)
    if not empty.all():  # an absent or empty column: a million cells that need no parsing
        values[~empty] = pd.to_numeric(text[~empty], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) & (~empty | required)
    if bad.any():
        i = _first(bad)
        if empty[i]:
            raise _fail(name, int(rows[i]), col, "empty; a number is required")
        what = "not a number" if math.isnan(values[i]) else "not finite"
        raise _fail(name, int(rows[i]), col, f"{what}: {text.iat[i]!r}")
    return values


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _choices(df: pd.DataFrame, col: str, allowed, default: str, name: str,
             rows: np.ndarray) -> pd.Series:
    """A column of names, each as spelled in `allowed` (`default` where empty); an unknown
    one raises naming `rows[i]`, the line it was written on."""
    given = df[col]
    empty = (given == "").to_numpy()
    canon = _canonical(given, allowed)
    bad = canon.isna().to_numpy() & ~empty
    if bad.any():
        i = _first(bad)
        s = given.iat[i]
        raise _fail(name, int(rows[i]), col, f"unknown {col} {s!r}"
                    f"{did_you_mean(s, allowed)}; choose from {', '.join(allowed)}")
    return pd.Series(np.where(empty, default, canon.to_numpy(object)), index=df.index,
                     dtype=object)


def _canonical(given: pd.Series, allowed) -> pd.Series:
    """Each cell as spelled in `allowed`, matched case-insensitively (NaN: no match)."""
    return given.str.lower().map({a.lower(): a for a in allowed})


def _therapy(text: str, start: float, horizon: float, row: int, name: str) -> str:
    """Normalise a therapy cell to "drug:day,..." in the order of `DRUGS`; a start day
    beyond the species' time horizon is a typo, not a therapy."""
    try:
        days = therapy_days(text, single_start=start)
    except ALSJaxError as e:
        raise _fail(name, row, "therapy", str(e)) from None
    for drug, day in days.items():
        if day > horizon:
            raise _fail(name, row, "therapy", f"start day {day:g} of {drug!r} is later than "
                        f"day {horizon:g}, the most a time may be for this species")
    return format_therapy(days)


def _in_range(observable: pd.Series, values: np.ndarray) -> np.ndarray:
    """Whether each value lies in its observable's `OBSERVABLE_RANGES` (events: always)."""
    ok = np.ones(len(values), bool)
    for k, r in OBSERVABLE_RANGES.items():
        m = (observable == k).to_numpy()
        ok[m] = r.allows(values[m])
    return ok


def _check_event_summaries(df: pd.DataFrame, time: np.ndarray, value: np.ndarray,
                           sigma: np.ndarray, n: np.ndarray, summary: np.ndarray,
                           name: str) -> None:
    """An arm's event summary (an event row with `n`): `value` is the fraction of the arm's
    n subjects with the event by `time` (1 - Kaplan-Meier survival), after day 0; the
    rows of one arm and event form a curve, so they share n (the arm's size at day 0) and
    have distinct times and fractions that never fall; `sigma`, if given, is the spread
    of log event time between the subjects."""

    def fail(bad: np.ndarray, field: str, problem) -> None:
        if bad.any():
            i = _first(bad)
            raise _fail(name, int(df["row"].iat[i]), field, problem(i))

    fail(summary & ~((value >= 0) & (value <= 1)), "value", lambda i: (
        f"an event summary's value is the fraction of the arm with the event by time "
        f"(0 to 1), got {value[i]:g}"))
    fail(summary & (time <= 0), "time", lambda i: (
        "an event summary at day 0 says nothing; give the fraction at a later day"))
    rows = df[summary].assign(_t=time[summary], _v=value[summary], _n=n[summary],
                              sigma=sigma[summary])
    for _, g in rows.groupby(["subject", "observable"], sort=False):
        g = g.sort_values(["_t", "row"], kind="stable")
        t, v, r = g["_t"].to_numpy(), g["_v"].to_numpy(), g["row"].to_numpy()
        for j in range(1, len(g)):
            if not _same(g["sigma"].iat[j], g["sigma"].iat[0]):
                raise _fail(name, int(r[j]), "sigma", (
                    f"arm {g['subject'].iat[j]!r}'s {g['observable'].iat[j]!r} summaries "
                    "give different sigma; it is the spread of one curve, the same on "
                    "every row (or empty on all)"))
            if g["_n"].iat[j] != g["_n"].iat[0]:
                raise _fail(name, int(r[j]), "n", (
                    f"arm {g['subject'].iat[j]!r}'s {g['observable'].iat[j]!r} summaries "
                    f"give n {g['_n'].iat[0]:g} and {g['_n'].iat[j]:g}; n is the arm's size "
                    "at day 0, the same on every row (not the number still at risk)"))
            if t[j] == t[j - 1]:
                raise _fail(name, int(r[j]), "time", (
                    f"two {g['observable'].iat[j]!r} summaries of arm "
                    f"{g['subject'].iat[j]!r} at day {t[j]:g} (rows {r[j - 1]} and {r[j]})"))
            if v[j] < v[j - 1]:
                raise _fail(name, int(r[j]), "value", (
                    f"the fraction of arm {g['subject'].iat[j]!r} with "
                    f"{g['observable'].iat[j]!r} falls from {v[j - 1]:g} (day {t[j - 1]:g}) "
                    f"to {v[j]:g} (day {t[j]:g}); it counts events so far and never falls"))


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _check_nothing_after_the_end(df: pd.DataFrame, time: np.ndarray, value: np.ndarray,
                                 single_event: np.ndarray, name: str) -> None:
    """No measurement of a subject after its observed death or end stage (the mouse's
    humane end point): such a row belongs to another subject or another day, and the
    model, whose course stops there, would fit it silently."""
    terminal = single_event & (value == 1.0) & df["observable"].isin(
        ("death", "end_stage")).to_numpy()
    if not terminal.any():
        return
    ends = pd.DataFrame({"subject": df["subject"][terminal], "end": time[terminal],
                         "event": df["observable"][terminal], "end_row": df["row"][terminal]})
    ends = ends.sort_values("end").drop_duplicates("subject")  # the earlier of the two
    rows = pd.DataFrame({"subject": df["subject"], "time": time, "row": df["row"],
                         "observable": df["observable"], "measured": ~single_event})
    late = rows.merge(ends, on="subject", how="inner")
    late = late[late["measured"] & (late["time"] > late["end"])].sort_values("row")
    if len(late):
        r = late.iloc[0]
        raise _fail(name, int(r["row"]), "time",
                    f"subject {r['subject']!r} has {r['observable']} on day {r['time']:g}, "
                    f"after its {r['event'].replace('_', ' ')} on day {r['end']:g} (row "
                    f"{int(r['end_row'])}): is the row another subject's, or another day's?")


def _check_physical(df: pd.DataFrame, time: np.ndarray, value: np.ndarray, sigma: np.ndarray,
                    lloq: np.ndarray, is_event: np.ndarray, name: str) -> None:
    """Every number within what its quantity can physically be (`OBSERVABLE_RANGES`,
    `TIME_HORIZON`); the first row at fault, in file order, is named."""
    obs = df["observable"]

    def fail(bad: np.ndarray, field: str, problem) -> None:
        if bad.any():
            i = _first(bad)
            raise _fail(name, int(df["row"].iat[i]), field, problem(i))

    horizon = df["species"].map(TIME_HORIZON).to_numpy(float)
    fail(time > horizon, "time", lambda i: (
        f"time {time[i]:g} is later than day {horizon[i]:g}, the most a "
        f"{df['species'].iat[i]} dataset can span (time is in days: are these hours, "
        "minutes or dates?)"))
    fail(is_event & ~np.isnan(lloq), "lloq",
         lambda i: "an event row has no limit of quantification; leave lloq empty")
    fail(~is_event & ~_in_range(obs, lloq) & ~np.isnan(lloq), "lloq", lambda i: (
        f"lloq {lloq[i]:g} is outside the physical range of {obs.iat[i]}, "
        f"{OBSERVABLE_RANGES[obs.iat[i]]}"))
    # A value below its row's lloq is a censored reading (labs record 0, lloq/2, ...):
    # only "below the limit" is used, so its number is not checked.
    censored = value < np.nan_to_num(lloq, nan=-np.inf)
    fail(~_in_range(obs, value) & ~censored, "value", lambda i: (
        f"{obs.iat[i]} value {value[i]:g} is outside its physical range "
        f"{OBSERVABLE_RANGES[obs.iat[i]]} ({OBSERVABLE_RANGES[obs.iat[i]].why})"))
    width = obs.map({k: r.high - r.low for k, r in OBSERVABLE_RANGES.items()})
    width = width.to_numpy(float)
    fail(is_event & (sigma > 5), "sigma", lambda i: (
        f"sigma {sigma[i]:g} is the SD of log event time; above 5 it is not a spread"))
    fail(~is_event & (sigma > width), "sigma", lambda i: (
        f"sigma {sigma[i]:g} is wider than the whole range of {obs.iat[i]}, "
        f"{OBSERVABLE_RANGES[obs.iat[i]]}: not a measurement SD"))


def _check_no_duplicates(out: pd.DataFrame, name: str) -> None:
    """Two rows equal in every column (numbers compared as numbers) are an error naming
    both: a row entered twice would count twice in the fit."""
    cells = out.drop(columns=["row", "kind"])
    dup = cells.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    j = _first(dup)
    twin, earlier = cells.iloc[j], cells.iloc[:j]
    same = ((earlier == twin) | (earlier.isna() & twin.isna())).all(axis=1)
    i = _first(same.to_numpy())
    r1, r2 = int(out["row"].iat[i]), int(out["row"].iat[j])
    raise _fail(name, r2, None, f"rows {r1} and {r2} are identical: subject "
                f"{out['subject'].iat[j]!r}, time {out['time'].iat[j]:g}, "
                f"{out['observable'].iat[j]} {out['value'].iat[j]:g}; delete one, or tell "
                "replicate measurements apart with a column such as 'replicate'")


def _fill_by_subject(df: pd.DataFrame, col: str, subject: np.ndarray) -> np.ndarray:
    """Empty subject-level cells take the subject's first non-empty value. `subject`:
    each row's subject as a code (`pd.factorize`), grouped faster than the names.

    Returns the line each row's value was written on (its own, or the row it was taken
    from), so that an error about the value names the cell that holds it."""
    given = df[col].where(df[col] != "")
    first = given.groupby(subject).transform("first")
    df[col] = given.fillna(first).fillna("")
    own = df["row"].to_numpy()
    taken = df["row"].where(given.notna()).groupby(subject).transform("first")
    return np.where(given.notna(), own, taken.fillna(df["row"]).to_numpy()).astype(int)


def _check_subject_agrees(df: pd.DataFrame, col: str, name: str, subject: np.ndarray,
                          rows: np.ndarray) -> None:
    """Every row of a subject has its first value of `col`; else one line naming both
    cells (`rows`: the line each value was written on)."""
    first = df[col].groupby(subject, sort=False).transform("first")
    first_row = pd.Series(rows, index=df.index).groupby(subject, sort=False).transform("first")
    bad = (df[col] != first).to_numpy()
    if bad.any():
        i = _first(bad)
        raise _fail(name, int(rows[i]), col,
                    f"subject {df['subject'].iat[i]!r} has {col} {df[col].iat[i]!r} here but "
                    f"{first.iat[i]!r} on row {int(first_row.iat[i])}; a subject has one {col}")


def read_measurements(path: str | os.PathLike) -> pd.DataFrame:
    """Read a tidy measurement CSV or a PEtab measurement table into the canonical frame.

    The format is detected from the columns (`observableId`, `simulationConditionId`,
    `measurement` mean PEtab); tab-separated when the file ends in `.tsv` or its header
    has tabs and no commas. Column names match case-insensitively. Returns the columns
    of `CANONICAL` in order, then covariates; see the module docstring for each one.

    Raises `ALSJaxError` (one line: file, row, field) for anything a fit cannot use.
    """
    path = Path(path)
    if _REMEMBERED is None:
        return _read_checked(path)
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError:  # missing, unreadable: `_read_checked` says which
        key = None
    frame = _REMEMBERED.get(key)
    if frame is None:
        frame = _read_checked(path)
        if key is not None:
            _REMEMBERED[key] = frame
    return frame.copy()


_REMEMBERED: dict[tuple, pd.DataFrame] | None = None
"""Within `reads_remembered`: (resolved path, size, modification time) -> frame."""


@contextlib.contextmanager
def reads_remembered() -> Iterator[None]:
    """Within: a file read again unchanged (the same size and modification time) is not
    parsed again, and each read gets its own copy. The command line reads its data twice
    (the run, then its note on the clock), and checking a million rows takes seconds; the
    frames are let go on leaving, so a library user never holds one they did not ask for."""
    global _REMEMBERED
    outer, _REMEMBERED = _REMEMBERED, ({} if _REMEMBERED is None else _REMEMBERED)
    try:
        yield
    finally:
        _REMEMBERED = outer


def _read_checked(path: Path) -> pd.DataFrame:
    """`read_measurements` without its memo."""
    name = str(path)
    df = _parse_table(_read_text(path, name), path, name)
    df = _canonical_names(df, name)
    covariates = [c for c in df.columns if c not in CANONICAL]

    bad = (df["subject"] == "").to_numpy()
    if bad.any():
        raise _fail(name, int(df["row"].iat[_first(bad)]), "subject", "empty subject id")
    # Subject-level fields: fill gaps from the subject's other rows (checked to agree below);
    # `written`: the line each value was written on, which an error about it names.
    subject = pd.factorize(df["subject"])[0]
    written = {}
    for col in ("genotype", "species", "therapy", "therapy_start"):
        if col not in df.columns:
            df[col] = ""
        written[col] = _fill_by_subject(df, col, subject)
    time = _numbers(df, "time", name, required=True)
    if (time < 0).any():
        i = _first(time < 0)
        raise _fail(name, int(df["row"].iat[i]), "time",
                    f"negative time {time[i]:g} (days since start)")
    valid = OBSERVABLE_NAMES + EVENT_NAMES
    obs = _canonical(df["observable"], valid)
    bad = obs.isna().to_numpy()
    if bad.any():
        i = _first(bad)
        s = df["observable"].iat[i]
        raise _fail(name, int(df["row"].iat[i]), "observable", f"unknown observable {s!r}"
                    f"{did_you_mean(s, valid)}; choose from {', '.join(valid)}")
    df["observable"] = obs.astype(object)
    value = _numbers(df, "value", name, required=True)
    sigma = _numbers(df, "sigma", name, required=False)
    if (sigma <= 0).any():
        i = _first(sigma <= 0)
        raise _fail(name, int(df["row"].iat[i]), "sigma",
                    f"sigma must be > 0 (a measurement SD), got {sigma[i]:g}")
    therapy_start = _numbers(df, "therapy_start", name, required=False,
                             rows=written["therapy_start"])
    if (therapy_start < 0).any():
        i = _first(therapy_start < 0)
        raise _fail(name, int(written["therapy_start"][i]), "therapy_start",
                    f"negative start day {therapy_start[i]:g}")
    n = _numbers(df, "n", name, required=False)
    if (n < 1).any():
        i = _first(n < 1)
        raise _fail(name, int(df["row"].iat[i]), "n",
                    f"n (subjects behind a summary row) must be >= 1, got {n[i]:g}")
    lloq = _numbers(df, "lloq", name, required=False)
    if (lloq <= 0).any():
        i = _first(lloq <= 0)
        raise _fail(name, int(df["row"].iat[i]), "lloq", f"lloq must be > 0, got {lloq[i]:g}")

    is_event = df["observable"].isin(EVENT_NAMES).to_numpy()
    event_summary = is_event & ~np.isnan(n)
    bad = is_event & ~event_summary & ~np.isin(value, (0.0, 1.0))
    if bad.any():
        i = _first(bad)
        raise _fail(name, int(df["row"].iat[i]), "value",
                    f"event {df['observable'].iat[i]!r} needs value 1 (event at time) or 0 "
                    f"(censored at time), got {value[i]:g}; an arm's fraction with the "
                    "event by time needs n (the arm's size) on the row")
    _check_event_summaries(df, time, value, sigma, n, event_summary, name)

    df["species"] = _choices(df, "species", SPECIES, "human", name, written["species"])
    mouse = (df["species"] == "mouse").to_numpy()
    df["genotype"] = np.where(mouse & (df["genotype"] == ""), "SOD1", df["genotype"])
    df["genotype"] = _choices(df, "genotype", GENOTYPES, "sporadic", name, written["genotype"])
    bad = mouse & (df["genotype"] != "SOD1").to_numpy()
    if bad.any():
        i = _first(bad)
        raise _fail(name, int(written["genotype"][i]), "genotype",
                    f"species 'mouse' models the SOD1-G93A line only, not genotype "
                    f"{df['genotype'].iat[i]!r}")
    horizons = df["species"].map(TIME_HORIZON).to_numpy(float)
    # One parse per distinct (cell, start, horizon), in the order they first appear (so an
    # error names the first bad row).
    keys = pd.DataFrame({"cell": df["therapy"].to_numpy(object), "start": therapy_start,
                         "horizon": horizons})
    codes = keys.groupby(list(keys.columns), sort=False, dropna=False).ngroup().to_numpy()
    firsts = np.unique(codes, return_index=True)[1]
    parsed = np.array([_therapy(keys["cell"].iat[i], therapy_start[i], horizons[i],
                                int(written["therapy"][i]), name) for i in firsts],
                      dtype=object)
    df["therapy"] = parsed[codes]
    bad = (df["therapy"].str.contains("tofersen") & (df["genotype"] != "SOD1")).to_numpy()
    if bad.any():
        i = _first(bad)
        raise _fail(name, int(written["therapy"][i]), "therapy",
                    f"tofersen targets mutant SOD1; subject {df['subject'].iat[i]!r} has "
                    f"genotype {df['genotype'].iat[i]!r}")
    for col in ("species", "genotype", "therapy"):
        _check_subject_agrees(df, col, name, subject, written[col])
    _check_physical(df, time, value, sigma, lloq, is_event, name)

    kind = np.where(event_summary, "event_summary",
                    np.where(is_event, "event",
                             np.where(np.isnan(n), "measurement", "summary")))
    events = df[is_event & ~event_summary]
    dup = events.duplicated(["subject", "observable"]).to_numpy()
    if dup.any():
        i = _first(dup)
        raise _fail(name, int(events["row"].iat[i]), "observable",
                    f"subject {events['subject'].iat[i]!r} has more than one "
                    f"{events['observable'].iat[i]!r} row; an event happens once")
    _check_nothing_after_the_end(df, time, value, is_event & ~event_summary, name)
    useless = pd.Series(is_event & (value == 0) & (time == 0), index=df.index)
    no_use = useless.groupby(df["subject"], sort=False).all()
    if no_use.any():
        subject = no_use.index[no_use.to_numpy()][0]
        r = int(df.loc[df["subject"] == subject, "row"].iat[0])
        raise _fail(name, r, "subject", f"subject {subject!r} has no usable rows: its only "
                    "rows are events censored at time 0")

    out = pd.DataFrame({
        "row": df["row"].astype(int),
        "subject": df["subject"].astype(object),
        "time": time,
        "observable": df["observable"].astype(object),
        "value": value,
        "sigma": sigma,
        "genotype": df["genotype"].astype(object),
        "species": df["species"].astype(object),
        "therapy": df["therapy"].astype(object),
        "therapy_start": therapy_start,
        "n": n,
        "lloq": lloq,
        "kind": pd.Series(kind, index=df.index, dtype=object),
    })
    for c in covariates:
        out[c] = df[c].astype(object)
    out = out.reset_index(drop=True)
    _check_no_duplicates(out, name)
    return out


def write_measurements(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a canonical frame as a tidy CSV, atomically (no `row`, no `kind`).

    Always writes subject, time, observable, value, genotype, species, therapy; the
    numeric optional columns (sigma, therapy_start, n, lloq) only when some row has one;
    then the covariates. Floats use a fixed format, so equal frames give equal bytes.
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ALSJaxError(f"write_measurements: missing column(s) {', '.join(missing)}")
    cols = list(REQUIRED)
    for c in OPTIONAL:
        if c in ("genotype", "species", "therapy"):
            cols.append(c)
        elif c in df.columns and pd.to_numeric(df[c], errors="coerce").notna().any():
            cols.append(c)
    cols += [c for c in df.columns if c not in CANONICAL]
    out = df.reindex(columns=cols)
    defaults = {"genotype": "sporadic", "species": "human", "therapy": ""}
    for c, d in defaults.items():
        if c not in df.columns:
            out[c] = d
    with atomic_open(path, "w") as f:
        out.to_csv(f, index=False, float_format=_FLOAT_FORMAT, na_rep="", lineterminator="\n")
