"""Reading a user's own download of a restricted clinical dataset (PRO-ACT, Answer ALS).

Such rows may not be redistributed, so alsjax ships none; `_proact` and `_answer_als` map
the tables a registered user downloads onto the tidy measurement frame. What they share
lives here: tables recognised by file name, columns matched case-insensitively (releases
differ in capitalisation), and every problem one `ALSJaxError` line naming the file, the
row (line in the file, header = 1) and the column.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import ALSJaxError


def download_paths(folder_or_files: str | os.PathLike | Iterable[str | os.PathLike]
                   ) -> list[Path]:
    """The CSV (or .txt) files of a download folder, or the files given."""
    if isinstance(folder_or_files, str | os.PathLike):
        p = Path(folder_or_files)
        if p.is_dir():
            return sorted(q for q in p.iterdir() if q.suffix.lower() in (".csv", ".txt"))
        if not p.exists():
            raise ALSJaxError(f"{p}: no such file or folder")
        return [p]
    paths = [Path(p) for p in folder_or_files]
    for p in paths:
        if not p.is_file():
            raise ALSJaxError(f"{p}: no such file")
    return paths


def classify(paths: Sequence[Path], kinds: Mapping[str, Sequence[str]]) -> dict[str, Path]:
    """kind -> file, each file by the first kind with a fragment in its lower-case name;
    files of no kind are ignored, a second file of one kind is an error."""
    found: dict[str, Path] = {}
    for p in paths:
        stem = p.name.lower()
        kind = next((k for k, frags in kinds.items() if any(f in stem for f in frags)), None)
        if kind is None:
            continue
        if kind in found:
            raise ALSJaxError(f"{p}: a second {kind} table (first: {found[kind]}); pass one "
                              "file per table")
        found[kind] = p
    return found


def read_table(path: Path, kind: str, columns: Sequence[str], subject: str) -> pd.DataFrame:
    """The table as stripped strings, columns lower-cased, blank lines dropped, with a
    `row` column (header = line 1); `columns` (lower case) are required and the `subject`
    column may not be empty."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as e:
        raise ALSJaxError(f"{path}: unreadable {kind} table: "
                          f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ALSJaxError(f"{path}: missing column {missing[0]!r} in the {kind} table "
                          f"(found: {', '.join(df.columns)})")
    df = df.apply(lambda s: s.str.strip())
    df.insert(0, "row", range(2, len(df) + 2))
    df = df[(df.drop(columns="row") != "").any(axis=1)]  # blank lines
    bad = df[subject] == ""
    if bad.any():
        raise ALSJaxError(f"{path}, row {int(df['row'][bad].iat[0])}, column {subject!r}: "
                          "empty subject id")
    return df


def numbers(df: pd.DataFrame, col: str, path: Path, *, required: bool) -> pd.Series:
    """A column as floats (NaN where empty and not required); bad cells raise."""
    text = df[col]
    empty = text == ""
    if required and empty.any():
        r = int(df["row"][empty].iat[0])
        raise ALSJaxError(f"{path}, row {r}, column {col!r}: empty; a number is required")
    values = pd.to_numeric(text.where(~empty), errors="coerce").astype(float)
    bad = ~empty & ~np.isfinite(values)
    if bad.any():
        r, s = int(df["row"][bad].iat[0]), text[bad].iat[0]
        # as the measurement reader words it: "nan" is not a number, an infinity not finite
        why = "not finite" if s.strip().lower().lstrip("+-") in ("inf", "infinity") \
            else "not a number"
        raise ALSJaxError(f"{path}, row {r}, column {col!r}: {why}: {s!r}")
    return values


def first_per_subject(df: pd.DataFrame, col: str, subject: str, path: Path) -> pd.Series:
    """subject -> the first number given in `col` (empty cells skipped, later rows of a
    subject ignored), as for an onset day recorded at more than one visit."""
    df = df[df[col] != ""]
    values = numbers(df, col, path, required=True)
    values.index = df[subject].to_numpy()
    return values[~values.index.duplicated()]
