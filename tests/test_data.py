"""Reading measurements: every accepted layout gives the canonical frame; every bad input
gives one line that names the file, the row and the field."""

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alsjax
from alsjax._data import CANONICAL

HEADER = "subject,time,observable,value"


def _write(tmp_path, text, name="data.csv", mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _error(tmp_path, text, name="data.csv"):
    path = _write(tmp_path, text, name) if isinstance(text, str) else _write(
        tmp_path, text, name, "wb")
    with pytest.raises(alsjax.ALSJaxError) as info:
        alsjax.read_measurements(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_minimal_csv_gives_canonical_frame(tmp_path):
    path = _write(tmp_path, f"{HEADER}\np1,0,alsfrs_r,46.5\np1,90,nfl,12\np2,30,death,1\n")
    df = alsjax.read_measurements(path)
    assert list(df.columns) == list(CANONICAL)
    assert df["row"].tolist() == [2, 3, 4]
    assert df["subject"].tolist() == ["p1", "p1", "p2"]
    assert df["time"].tolist() == [0.0, 90.0, 30.0]
    assert df["value"].tolist() == [46.5, 12.0, 1.0]
    assert df["kind"].tolist() == ["measurement", "measurement", "event"]
    assert df["genotype"].tolist() == ["sporadic"] * 3
    assert df["species"].tolist() == ["human"] * 3
    assert df["therapy"].tolist() == [""] * 3
    for c in ("sigma", "therapy_start", "n", "lloq"):
        assert df[c].isna().all()
    assert df["time"].dtype == np.float64 and df["value"].dtype == np.float64


def test_optional_columns_covariates_and_summaries(tmp_path):
    text = (
        "Subject,time,observable,value,sigma,genotype,species,therapy,therapy_start,n,lloq,"
        "sex,arm\n"
        "p1,0,alsfrs_r,40,1.5,sod1,,riluzole,30,,,F,A\n"
        "p1,90,nfl,38,,,,,,,5,F,A\n"
        "\n"  # a blank line is skipped but still counts for row numbers
        'armB,10,alsfrs_r,41,0.3,,,"riluzole:0,edaravone:10",,50,,M,B\n'
        "m1,60,grip_strength,90,,,mouse,,,,,F,C\n"
    )
    df = alsjax.read_measurements(_write(tmp_path, text))
    assert list(df.columns) == [*CANONICAL, "sex", "arm"]
    assert df["row"].tolist() == [2, 3, 5, 6]
    # Subject-level fields fill from the subject's other rows; case is normalised.
    assert df["genotype"].tolist() == ["SOD1", "SOD1", "sporadic", "SOD1"]
    assert df["species"].tolist() == ["human", "human", "human", "mouse"]
    assert df["therapy"].tolist() == ["riluzole:30", "riluzole:30",
                                      "riluzole:0,edaravone:10", ""]
    assert df["kind"].tolist() == ["measurement", "measurement", "summary", "measurement"]
    assert df["n"].iloc[2] == 50 and df["lloq"].iloc[1] == 5 and df["sigma"].iloc[0] == 1.5
    assert math.isnan(df["sigma"].iloc[1])
    assert df["sex"].tolist() == ["F", "F", "M", "F"]
    # The normalised therapy is what alsjax.parse_therapy reads.
    th = alsjax.parse_therapy(df["therapy"].iloc[2])
    assert np.asarray(th.on).tolist() == [1.0, 1.0, 0.0, 0.0]
    assert np.asarray(th.start).tolist() == [0.0, 10.0, 0.0, 0.0]


def test_petab_table(tmp_path):
    text = (
        "observableId\tsimulationConditionId\ttime\tmeasurement\tnoiseParameters\tdatasetId\n"
        "nfl\tcondA\t0\t12.5\t2\td1\n"
        "alsfrs_r\tcondA\t30\t44\tsigma_alsfrs\td1\n"
    )
    df = alsjax.read_measurements(_write(tmp_path, text, "measurements.tsv"))
    assert list(df.columns) == [*CANONICAL, "datasetId"]
    assert df["subject"].tolist() == ["condA", "condA"]
    assert df["observable"].tolist() == ["nfl", "alsfrs_r"]
    assert df["value"].tolist() == [12.5, 44.0]
    assert df["sigma"].iloc[0] == 2.0 and math.isnan(df["sigma"].iloc[1])


def test_write_then_read_round_trip(tmp_path):
    text = (f"{HEADER},sigma,therapy,sex\np1,0,alsfrs_r,40.123456789,1.5,riluzole:3,F\n"
            "p1,100,death,0,,,F\n")
    df = alsjax.read_measurements(_write(tmp_path, text))
    out = tmp_path / "out" / "copy.csv"
    alsjax.write_measurements(df, out)
    back = alsjax.read_measurements(out)
    pd.testing.assert_frame_equal(back.drop(columns="row"), df.drop(columns="row"))
    assert out.read_text().splitlines()[0] == (
        "subject,time,observable,value,sigma,genotype,species,therapy,sex")
    assert [p.name for p in out.parent.iterdir()] == ["copy.csv"]  # no temporary left


@pytest.mark.parametrize(
    "text, row, field, fragment",
    [
        ("subject,time,observble,value\np1,0,alsfrs_r,4\n", 1, None,
         "missing column 'observable' (found 'observble'?)"),
        (f"{HEADER}\np1,0,alsfrs_r,abc\n", 2, "value", "not a number"),
        (f"{HEADER}\np1,0,alsfrs_r,nan\n", 2, "value", "not a number"),
        (f"{HEADER}\np1,0,alsfrs_r,inf\n", 2, "value", "not finite"),
        (f"{HEADER}\np1,0,alsfrs_r,\n", 2, "value", "empty"),
        (f"{HEADER}\np1,0,alsfrs_r,4\np1,x,nfl,3\n", 3, "time", "not a number"),
        (f"{HEADER}\np1,0,alsfrs_r,4\n\np1,-3,nfl,3\n", 4, "time",
         "negative time -3 (days since start)"),
        (f"{HEADER},sigma\np1,0,alsfrs_r,4,abc\n", 2, "sigma", "not a number"),
        (f"{HEADER},sigma\np1,0,alsfrs_r,4,0\n", 2, "sigma", "sigma must be > 0"),
        (f"{HEADER}\np1,0,alsfrs,4\n", 2, "observable",
         "unknown observable 'alsfrs' (did you mean 'alsfrs_r'?); choose from alsfrs_r"),
        (f"{HEADER},genotype\np1,0,nfl,4,SOD2\n", 2, "genotype", "choose from sporadic"),
        (f"{HEADER},species\np1,0,nfl,4,rat\n", 2, "species", "choose from human, mouse"),
        (f"{HEADER},therapy\np1,0,nfl,4,aspirin\n", 2, "therapy",
         "unknown therapy 'aspirin'; choose from riluzole"),
        (f"{HEADER},therapy\np1,0,nfl,4,riluzole:soon\n", 2, "therapy", "not a number"),
        (f'{HEADER},therapy\np1,0,nfl,4,"riluzole:0,Riluzole:100"\n', 2, "therapy",
         "drug 'riluzole' is named twice"),
        (f"{HEADER},genotype,species\np1,0,nfl,4,C9orf72,mouse\n", 2, "genotype",
         "SOD1-G93A line only"),
        (f"{HEADER},therapy\np1,0,nfl,4,tofersen:0\n", 2, "therapy",
         "tofersen targets mutant SOD1"),
        (f"{HEADER}\np1,0,nfl,4\np1,10,death,0.5\n", 3, "value", "needs value 1"),
        (f"{HEADER},genotype\np1,0,nfl,4,SOD1\np1,5,nfl,4,C9orf72\n", 3, "genotype",
         "'C9orf72' here but 'SOD1' on row 2"),
        (f"{HEADER},species\np1,0,nfl,4,human\np1,5,nfl,4,mouse\n", 3, "species",
         "a subject has one species"),
        (f"{HEADER},therapy\np1,0,nfl,4,riluzole:0\np1,5,nfl,4,riluzole:9\n", 3, "therapy",
         "a subject has one therapy"),
        # A subject-level cell left empty takes the subject's value from another row; an
        # error about that value names the row it is written on.
        (f"{HEADER},therapy\np1,0,nfl,4,\np1,5,nfl,4,aspirin:0\n", 3, "therapy",
         "unknown therapy 'aspirin'"),
        (f"{HEADER},therapy\np1,0,nfl,4,\np1,5,nfl,4,tofersen:0\n", 3, "therapy",
         "tofersen targets mutant SOD1"),
        (f"{HEADER},therapy_start\np1,0,nfl,4,\np1,5,nfl,4,-2\n", 3, "therapy_start",
         "negative start day -2"),
        (f"{HEADER},genotype\np1,0,nfl,4,\np1,5,nfl,4,SOD2\n", 3, "genotype",
         "unknown genotype 'SOD2'"),
        (f"{HEADER},species\np1,0,nfl,4,\np1,5,nfl,4,rat\n", 3, "species",
         "unknown species 'rat'"),
        (f"{HEADER},genotype,species\np1,0,nfl,4,,mouse\np1,5,nfl,4,C9orf72,\n", 3,
         "genotype", "SOD1-G93A line only"),
        (f"{HEADER},genotype\np1,0,nfl,4,\np1,5,nfl,4,SOD1\np1,9,nfl,4,FUS\n", 4, "genotype",
         "'FUS' here but 'SOD1' on row 3"),
        (f"{HEADER}\np1,0,nfl,4\np2,0,death,0\n", 3, "subject",
         "subject 'p2' has no usable rows"),
        (f"{HEADER}\np1,0,nfl,4\n,3,nfl,4\n", 3, "subject", "empty subject id"),
        (f"{HEADER}\np1,10,death,1\np1,20,death,0\n", 3, "observable", "more than one 'death'"),
        (f"{HEADER},n\np1,10,nfl,3,0\n", 2, "n", "must be >= 1"),
        (f"{HEADER},lloq\np1,10,nfl,3,-1\n", 2, "lloq", "must be > 0"),
        ("subject,time,observable,time,value\np1,0,nfl,0,4\n", 1, "time",
         "duplicated column 'time'"),
        (f"{HEADER}\np1,0,nfl,4\n{HEADER}\np2,0,nfl,4\n", 3, None, "header line appears again"),
        (f"{HEADER}\np1,0,nfl,4,9\n", 2, None, "expected 4 fields, found 5"),
        ("observableId,simulationConditionId,tme,measurement\nnfl,c,0,1\n", 1, None,
         "missing PEtab column 'time' (found 'tme'?)"),
        # A measurement after the subject's observed death (or a mouse's end stage).
        (f"{HEADER}\np1,0,nfl,4\np1,100,death,1\np1,200,alsfrs_r,30\np2,10,nfl,5\n", 4,
         "time", "subject 'p1' has alsfrs_r on day 200, after its death on day 100 (row 3)"),
        (f"{HEADER},species\nm1,90,grip_strength,0.5,mouse\nm1,120,end_stage,1,mouse\n"
         "m1,125,grip_strength,0.2,mouse\n", 4, "time", "after its end stage on day 120"),
        # A quote never closed swallows the rest of the file into one field: named where
        # it opened, not as the later row that then lacks its fields.
        (f"{HEADER}\np1,0,nfl,4\n\"p1,1,nfl,5\np1,2,nfl,6\n", 3, None,
         "a quote opened on this line is not closed (the field runs on to line 4)"),
    ],
)
def test_bad_input_names_row_and_field(tmp_path, text, row, field, fragment):
    message = _error(tmp_path, text)
    assert f", row {row}" in message
    if field is not None:
        assert f"field '{field}'" in message
    assert fragment in message


@pytest.mark.parametrize(
    "text, name, fragment",
    [("subject;time;observable;value\np1;0;nfl;4\n", "data.csv", "row 1: missing column "
      "'subject'; required columns are subject, time, observable, value; the header seems to "
      "be separated by semicolons: alsjax reads commas"),
     ("subject;time;observable;value\np1;0;nfl;4,5\n", "data.csv", "row 2: expected 1 "
      "fields, found 2; the header seems to be separated by semicolons"),
     ("subject\ttime,observable\tvalue\np1\t0,nfl\t4\n", "data.csv", "separated by tabs"),
     (f"{HEADER}\np1,0,nfl,4\n", "data.tsv", "missing column 'subject'; required columns are "
      "subject, time, observable, value; the header seems to be separated by commas: alsjax "
      "reads a .tsv file as tab-separated"),
     ("subject,time,observble,value\np1,0,nfl,4\n", "data.csv", None)],
    ids=["semicolons", "semicolons-and-decimal-commas", "tabs-in-a-csv", "commas-in-a-tsv",
         "commas-missing-a-column"],
)
def test_a_header_split_by_another_separator_is_named(tmp_path, text, name, fragment):
    """A spreadsheet's semicolon CSV, or a CSV named .tsv, reads as one column: the error
    about the missing columns says which separator the header seems to use."""
    message = _error(tmp_path, text, name)
    if fragment is None:
        assert "separated by" not in message, message
    else:
        assert fragment in message, message


@pytest.mark.parametrize(
    "content, fragment",
    [("", "empty file"), ("\n\n", "empty file"), (f"{HEADER}\n", "no data rows"),
     (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"), (b"subject\xff\xfe,time\n", "not UTF-8")],
)
def test_unusable_files(tmp_path, content, fragment):
    message = _error(tmp_path, content)
    assert fragment in message


def test_directory_is_reported(tmp_path):
    with pytest.raises(alsjax.ALSJaxError, match="is a directory"):
        alsjax.read_measurements(tmp_path)


def test_a_file_read_again_unchanged_is_not_parsed_again(tmp_path, monkeypatch):
    """The command line reads its data twice; within `reads_remembered` the second read of
    an unchanged file is the first one's frame, copied (a caller's edit does not leak), a
    changed file (size or modification time) is parsed again, and outside it (a library
    user) every read parses and nothing is kept."""
    from alsjax import _data

    parsed = []
    monkeypatch.setattr(_data, "_read_checked",
                        lambda path, real=_data._read_checked: parsed.append(path) or real(path))
    path = _write(tmp_path, f"{HEADER}\np1,0,alsfrs_r,40\n")
    with _data.reads_remembered():
        first = alsjax.read_measurements(path)
        first.loc[0, "value"] = -1.0
        again = alsjax.read_measurements(path)
        assert len(parsed) == 1 and again["value"].tolist() == [40.0]
        path.write_text(f"{HEADER}\np1,0,alsfrs_r,39.5\n")  # another size
        assert alsjax.read_measurements(path)["value"].tolist() == [39.5]
        mtime = path.stat().st_mtime_ns
        path.write_text(f"{HEADER}\np1,0,alsfrs_r,38.5\n")  # the same size, a later time
        os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
        assert alsjax.read_measurements(path)["value"].tolist() == [38.5]
        assert len(parsed) == 3
    assert _data._REMEMBERED is None
    alsjax.read_measurements(path)
    alsjax.read_measurements(path)
    assert len(parsed) == 5


def test_the_fit_command_parses_its_data_file_once(tmp_path, monkeypatch):
    """`alsjax fit data.csv` reads the file for the run and again for its note on the
    clock: one parse (the run is stubbed; only the reads are counted)."""
    from typer.testing import CliRunner

    from alsjax import _data, cli

    parsed = []
    monkeypatch.setattr(_data, "_read_checked",
                        lambda path, real=_data._read_checked: parsed.append(path) or real(path))
    monkeypatch.setattr(cli, "_run", lambda recipe, *a, **k: _data.read_measurements(recipe.data))
    path = _write(tmp_path, f"{HEADER}\np1,0,alsfrs_r,40\np1,30,alsfrs_r,39\n")
    r = CliRunner().invoke(cli.app, ["fit", str(path), "--estimate", "nfl_release",
                                     "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stderr
    assert "--align onset" in r.stderr  # the note did read the file
    assert parsed == [path] and _data._REMEMBERED is None


def test_event_only_subject_is_fine(tmp_path):
    df = alsjax.read_measurements(_write(tmp_path, f"{HEADER}\np1,0,nfl,4\np2,400,death,1\n"))
    assert df.loc[df["subject"] == "p2", "kind"].tolist() == ["event"]


def test_rows_after_a_quoted_line_break_keep_their_line_numbers(tmp_path):
    text = f'{HEADER},note\np1,0,nfl,4,"two\nlines"\np1,5,nfl,x,\n'
    message = _error(tmp_path, text)
    assert ", row 4, field 'value': not a number" in message


def test_every_observable_has_a_range():
    assert set(alsjax.OBSERVABLE_RANGES) == set(alsjax.OBSERVABLE_NAMES)
    assert set(alsjax.TIME_HORIZON) == set(alsjax.SPECIES)
    for r in alsjax.OBSERVABLE_RANGES.values():
        assert r.low < r.high and r.why


@pytest.mark.parametrize("observable, value", [
    ("alsfrs_r", "0"), ("alsfrs_r", "48"), ("alsfrs_r", "48.0"), ("umn", "0"), ("umn", "1"),
    ("lmn", "0"), ("lmn", "1"), ("spasticity", "0"), ("spasticity", "4"),
    ("fvc", "0.5"), ("fvc", "200"), ("grip_strength", "0"), ("grip_strength", "200"),
    ("nfl", "1e-3"), ("nfl", "100000"),
])
def test_values_at_the_ends_of_a_range_are_accepted(tmp_path, observable, value):
    df = alsjax.read_measurements(_write(tmp_path, f"{HEADER}\np1,0,{observable},{value}\n"))
    assert df["value"].tolist() == [float(value)]


@pytest.mark.parametrize("observable, value, shown, allowed", [
    ("alsfrs_r", "48.0001", "48.0001", "[0, 48]"),
    ("alsfrs_r", "-0.0001", "-0.0001", "[0, 48]"),
    ("alsfrs_r", "-12", "-12", "[0, 48]"),
    ("alsfrs_r", "460", "460", "[0, 48]"),
    ("umn", "1.01", "1.01", "[0, 1]"),
    ("lmn", "1.5", "1.5", "[0, 1]"),
    ("lmn", "-0.2", "-0.2", "[0, 1]"),
    ("spasticity", "4.5", "4.5", "[0, 4]"),
    ("fvc", "0", "0", "(0, 200]"),
    ("fvc", "250", "250", "(0, 200]"),
    ("grip_strength", "-1", "-1", "[0, 200]"),
    ("grip_strength", "200.5", "200.5", "[0, 200]"),
    ("nfl", "0", "0", "(0, 100000]"),
    ("nfl", "-3", "-3", "(0, 100000]"),
    ("nfl", "100000.5", "100000", "(0, 100000]"),
    ("nfl", "1e308", "1e+308", "(0, 100000]"),
])
def test_values_outside_a_range_name_row_value_and_range(tmp_path, observable, value, shown,
                                                         allowed):
    text = f"{HEADER}\np1,0,alsfrs_r,40\np1,10,{observable},{value}\n"
    message = _error(tmp_path, text)
    assert (f", row 3, field 'value': {observable} value {shown} is outside its physical "
            f"range {allowed} (") in message
    assert message.endswith(f"({alsjax.OBSERVABLE_RANGES[observable].why})")


def test_the_range_check_applies_to_arm_summaries_not_to_events(tmp_path):
    message = _error(tmp_path, f"{HEADER},sigma,n\narmA,0,alsfrs_r,52,0.5,40\n")
    assert ", row 2, field 'value': alsfrs_r value 52 is outside" in message
    df = alsjax.read_measurements(_write(tmp_path, f"{HEADER}\np1,0,nfl,3\np1,9000,death,1\n"))
    assert df["kind"].tolist() == ["measurement", "event"]


def test_a_value_below_its_lloq_is_censored_and_not_range_checked(tmp_path):
    # Labs record a reading below the limit as 0 or lloq/2: only "below lloq" is used.
    text = f"{HEADER},lloq\np1,0,nfl,0,5\np1,10,nfl,2.5,5\np1,20,nfl,8,5\n"
    df = alsjax.read_measurements(_write(tmp_path, text))
    assert df["value"].tolist() == [0.0, 2.5, 8.0]
    # Without a limit (or at or above it), 0 is not a concentration.
    message = _error(tmp_path, f"{HEADER},lloq\np1,0,nfl,5,5\np1,10,nfl,0,\n")
    assert ", row 3, field 'value': nfl value 0 is outside its physical range" in message


@pytest.mark.parametrize("species, last_day", [("human", 36_525), ("mouse", 1_000)])
def test_time_horizon_per_species(tmp_path, species, last_day):
    assert alsjax.TIME_HORIZON[species] == last_day
    ok = f"{HEADER},species\np1,{last_day},nfl,3,{species}\n"
    assert alsjax.read_measurements(_write(tmp_path, ok))["time"].tolist() == [last_day]
    message = _error(tmp_path, f"{HEADER},species\np1,0,nfl,3,{species}\n"
                     f"p1,{last_day + 0.5:g},nfl,3,{species}\n")
    assert (f", row 3, field 'time': time {last_day + 0.5:g} is later than day {last_day}, "
            f"the most a {species} dataset can span") in message


@pytest.mark.parametrize("text, row, field, fragment", [
    (f"{HEADER},sigma\np1,0,alsfrs_r,40,48.5\n", 2, "sigma",
     "sigma 48.5 is wider than the whole range of alsfrs_r, [0, 48]"),
    (f"{HEADER},sigma\np1,0,lmn,0.5,2\n", 2, "sigma",
     "sigma 2 is wider than the whole range of lmn"),
    (f"{HEADER},sigma\np1,0,alsfrs_r,40,inf\n", 2, "sigma", "not finite"),
    (f"{HEADER},sigma\np1,0,alsfrs_r,40,nan\n", 2, "sigma", "not a number"),
    (f"{HEADER},lloq\np1,0,nfl,40,2e5\n", 2, "lloq",
     "lloq 200000 is outside the physical range of nfl, (0, 100000]"),
    (f"{HEADER},lloq\np1,0,lmn,0.5,1.5\n", 2, "lloq",
     "lloq 1.5 is outside the physical range of lmn"),
    (f"{HEADER},lloq\np1,0,nfl,4,\np1,90,death,1,3\n", 3, "lloq",
     "an event row has no limit of quantification"),
])
def test_implausible_sigma_and_lloq(tmp_path, text, row, field, fragment):
    message = _error(tmp_path, text)
    assert f", row {row}, field '{field}': {fragment}" in message


def test_sigma_as_wide_as_the_range_is_accepted(tmp_path):
    df = alsjax.read_measurements(_write(tmp_path, f"{HEADER},sigma\np1,0,alsfrs_r,40,48\n"))
    assert df["sigma"].tolist() == [48.0]


def test_identical_rows_name_both(tmp_path):
    text = (f"{HEADER}\np1,0,alsfrs_r,40\np1,0,nfl,12\np1,90,alsfrs_r,38\np2,0,nfl,9\n"
            "p1,90,alsfrs_r,38\n")
    message = _error(tmp_path, text)
    assert message.endswith(", row 6: rows 4 and 6 are identical: subject 'p1', time 90, "
                            "alsfrs_r 38; delete one, or tell replicate measurements apart "
                            "with a column such as 'replicate'")


def test_identical_rows_are_compared_as_numbers_and_with_every_column(tmp_path):
    # 90 and 90.0 are the same day; an empty optional cell equals an empty one.
    message = _error(tmp_path, f"{HEADER},sigma,sex\np1,90,nfl,12,,F\np1,90.0,nfl,12.00,,F\n")
    assert ", row 3: rows 2 and 3 are identical" in message
    # Replicates at one time with different values, or told apart by a covariate, are fine.
    text = (f"{HEADER},replicate\np1,90,nfl,12,a\np1,90,nfl,12,b\np1,90,nfl,13,a\n"
            "p1,90,alsfrs_r,12,a\n")
    assert len(alsjax.read_measurements(_write(tmp_path, text))) == 4


def test_shipped_synthetic_data_pass_the_checks():
    root = Path(__file__).resolve().parent.parent / "data" / "synthetic"
    for name in ("human_cohort", "mouse_sod1", "small_human"):
        df = alsjax.read_measurements(root / f"{name}.csv")
        for k, r in alsjax.OBSERVABLE_RANGES.items():
            assert r.allows(df.loc[df["observable"] == k, "value"].to_numpy()).all()


def test_the_fast_parser_reads_a_plain_table_as_the_csv_module_does():
    """Tables without quotes go through pandas' C parser (`_plain_records`), the rest
    through the csv module (`_records`), which names rows by their line. On 600 seeded
    random tables (commas or tabs, CRLF or LF, blank and short lines, padded fields, rows
    longer than the header) every table the fast path takes gives the same header, cells
    and line numbers, and it takes most of them."""
    import random

    from alsjax import _data

    rng = random.Random(0)
    cells = ["p1", " p2 ", "", "0", "1.5", "alsfrs_r", "  ", "x y", "3e2", "-1", "\t"]
    taken = 0
    for _ in range(600):
        sep, width = rng.choice([",", "\t"]), rng.randint(1, 5)
        lines = [sep.join(f" h{i}" for i in range(width))]
        for _ in range(rng.randint(0, 6)):
            n = rng.choice([width, width, width - 1, 0, width + 1])
            lines.append(sep.join(rng.choice(cells).replace(sep, "") for _ in range(n)))
        end = rng.choice(["\n", "\r\n"])
        text = end.join(lines) + rng.choice(["", end, end + end])
        fast = _data._plain_records(text, sep)
        if fast is None:
            continue
        taken += 1
        header, line, rows, numbers = _data._records(text, sep, "t.csv")
        assert (fast[0], fast[1]) == (header, line), repr(text)
        assert [list(r) for r in fast[2]] == rows and list(fast[3]) == numbers, repr(text)
    assert taken > 300
