"""`read_proact` on a small synthetic file set in the PRO-ACT layout (never real data)."""

from __future__ import annotations

import pandas as pd
import pytest

from alsjax import read_measurements, write_measurements
from alsjax._errors import ALSJaxError
from alsjax._proact import read_proact

ALSFRS = """subject_id,ALSFRS_Delta,ALSFRS_Total,ALSFRS_R_Total
101,-7,30,
101,0,,40
101,91,,37
101,182,,33
202,0,,44
202,98,,43
303,0,,38
303,84,,31
"""
DEATH = """subject_id,Subject_Died,Death_Days
101,No,
202,Yes,300
303,Yes,150
"""
RILUZOLE = """SUBJECT_ID,subject_used_riluzole,Riluzole_use_Delta
101,Yes,
202,No,
303,Yes,30
"""
HISTORY = """subject_id,Onset_Delta
101,-400
202,-250
"""
# Best of three trials in % of predicted; row 4 only in litres (3.1 of 4.0 predicted: 77.5);
# row 5 has no value at all; row 6 is before day 0.
FVC = """subject_id,Forced_Vital_Capacity_Delta,Subject_Liters_Trial_1,pct_of_Normal_Trial_1,\
Subject_Liters_Trial_2,pct_of_Normal_Trial_2,Subject_Liters_Trial_3,pct_of_Normal_Trial_3,\
Subject_Normal
101,0,3.0,80,3.2,85,,,
101,91,2.9,78,,,,,
202,0,3.1,,,,,,4.0
202,98,,,,,,,
303,-5,2.0,60,,,,,
""".replace("\\\n", "")


def _files(tmp_path, **tables):
    """Write the tables (default: all but FVC) under PRO-ACT-like names; return the
    folder."""
    names = {"alsfrs": ("PROACT_ALSFRS.csv", ALSFRS), "death": ("PROACT_DEATHDATA.csv", DEATH),
             "riluzole": ("PROACT_RILUZOLE.csv", RILUZOLE),
             "history": ("PROACT_ALSHISTORY.csv", HISTORY), "fvc": ("PROACT_FVC.csv", None)}
    for kind, (name, text) in names.items():
        text = tables.get(kind, text)
        if text is not None:
            (tmp_path / name).write_text(text)
    return tmp_path


def test_trial_alignment_maps_visits_deaths_and_riluzole(tmp_path):
    tidy = read_proact(_files(tmp_path))
    frs = tidy[tidy.observable == "alsfrs_r"]
    assert len(frs) == 7  # the ALSFRS-only visit at day -7 is dropped
    assert tidy.attrs["dropped"]["visits_without_alsfrs_r"] == 1
    s101 = tidy[tidy.subject == "101"]
    assert s101[s101.observable == "alsfrs_r"].value.tolist() == [40, 37, 33]
    death = tidy[tidy.observable == "death"].set_index("subject")
    assert death.loc["101", ["time", "value"]].tolist() == [182, 0]  # censored, last visit
    assert death.loc["202", ["time", "value"]].tolist() == [300, 1]
    therapy = tidy.groupby("subject").therapy.first()
    assert therapy.to_dict() == {"101": "riluzole:0", "202": "", "303": "riluzole:30"}


def test_fvc_is_the_best_trial_in_percent_of_predicted(tmp_path):
    """FVC rows: the best trial's % of predicted, else the best litres over the predicted
    litres; a visit with neither is dropped and counted, as is one before day 0; with
    align="onset" the days shift like the ALSFRS-R visits; the frame reads back."""
    tidy = read_proact(_files(tmp_path, fvc=FVC))
    fvc = tidy[tidy.observable == "fvc"]
    assert fvc[["subject", "time", "value"]].values.tolist() == [
        ["101", 0, 85.0], ["101", 91, 78.0], ["202", 0, 77.5]]
    assert tidy.attrs["dropped"]["visits_without_fvc"] == 1
    assert tidy.attrs["dropped"]["visits_before_day_0"] == 1  # subject 303's, day -5
    onset = read_proact(_files(tmp_path, fvc=FVC), align="onset")
    assert onset[onset.observable == "fvc"].time.tolist() == [400, 491, 250]
    out = tmp_path / "tidy.csv"
    write_measurements(tidy, out)
    assert (read_measurements(out).observable == "fvc").sum() == 3


def test_round_trip_through_the_tidy_csv(tmp_path):
    tidy = read_proact(_files(tmp_path))
    out = tmp_path / "tidy.csv"
    write_measurements(tidy, out)
    back = read_measurements(out)
    assert len(back) == len(tidy)
    assert set(back.kind) == {"measurement", "event"}
    assert back[back.subject == "303"].therapy.iat[0] == "riluzole:30"


def test_onset_alignment_shifts_days_and_drops_subjects_without_onset(tmp_path):
    tidy = read_proact(_files(tmp_path), align="onset")
    assert set(tidy.subject) == {"101", "202"}
    assert tidy.attrs["dropped"]["subjects_without_onset"] == 1
    s101 = tidy[(tidy.subject == "101") & (tidy.observable == "alsfrs_r")]
    assert s101.time.tolist() == [400, 491, 582]
    assert tidy[tidy.subject == "101"].therapy.iat[0] == "riluzole:400"
    assert tidy[(tidy.subject == "202") & (tidy.observable == "death")].time.iat[0] == 550


def test_list_of_files_and_case_insensitive_names(tmp_path):
    folder = _files(tmp_path, death=None, riluzole=None, history=None)
    tidy = read_proact([folder / "PROACT_ALSFRS.csv"])
    assert set(tidy.observable) == {"alsfrs_r"}
    assert (tidy.therapy == "").all()


@pytest.mark.parametrize("tables, message", [
    ({"alsfrs": ALSFRS.replace("ALSFRS_Delta", "Visit_Day")},
     "PROACT_ALSFRS.csv: missing column 'alsfrs_delta'"),
    ({"alsfrs": ALSFRS.replace("101,91,,37", "101,91,,x7")},
     "PROACT_ALSFRS.csv, row 4, column 'alsfrs_r_total': not a number: 'x7'"),
    ({"alsfrs": ALSFRS.replace("202,98,,43", "202,98,,53")},
     "PROACT_ALSFRS.csv, row 7, column 'alsfrs_r_total': 53 is outside"),
    ({"alsfrs": ALSFRS.replace("303,0,,38", ",0,,38")},
     "PROACT_ALSFRS.csv, row 8, column 'subject_id': empty subject id"),
    ({"death": DEATH.replace("202,Yes,300", "202,Maybe,300")},
     "PROACT_DEATHDATA.csv, row 3, column 'subject_died': expected Yes or No"),
    ({"death": DEATH.replace("303,Yes,150", "303,Yes,")},
     "PROACT_DEATHDATA.csv, row 4, column 'death_days': empty"),
    ({"death": DEATH + "303,No,\n"},
     "PROACT_DEATHDATA.csv, row 5, column 'subject_id': subject '303' appears twice"),
    ({"alsfrs": None}, "no ALSFRS table"),
    ({"fvc": FVC.replace("202,0,3.1,,,,,,4.0", "202,0,3.1,,,,,,1.0")},
     "PROACT_FVC.csv, row 4: FVC 310 % of predicted is outside (0, 200]"),
    ({"fvc": FVC.replace("101,91,2.9,78", "101,91,2.9,7x")},
     "PROACT_FVC.csv, row 3, column 'pct_of_normal_trial_1': not a number: '7x'"),
    # worded as the measurement reader words them: NaN is not a number, inf not finite
    ({"alsfrs": ALSFRS.replace("101,91,,37", "101,91,,NaN")},
     "PROACT_ALSFRS.csv, row 4, column 'alsfrs_r_total': not a number: 'NaN'"),
    ({"alsfrs": ALSFRS.replace("101,91,,37", "101,91,,-inf")},
     "PROACT_ALSFRS.csv, row 4, column 'alsfrs_r_total': not finite: '-inf'"),
    ({"fvc": FVC.replace("Forced_Vital_Capacity_Delta", "Visit")},
     "PROACT_FVC.csv: missing column 'forced_vital_capacity_delta'"),
])
def test_malformed_input_is_one_line_naming_file_row_and_column(tmp_path, tables, message):
    with pytest.raises(ALSJaxError) as err:
        read_proact(_files(tmp_path, **tables))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_align_and_missing_history(tmp_path):
    with pytest.raises(ALSJaxError, match="align must be one of"):
        read_proact(_files(tmp_path), align="diagnosis")
    (tmp_path / "PROACT_ALSHISTORY.csv").unlink()
    with pytest.raises(ALSJaxError, match="needs the ALS history table"):
        read_proact(tmp_path, align="onset")


def test_returns_a_dataframe_with_the_tidy_columns(tmp_path):
    tidy = read_proact(_files(tmp_path))
    assert isinstance(tidy, pd.DataFrame)
    assert list(tidy.columns) == ["subject", "time", "observable", "value", "genotype",
                                  "species", "therapy"]
