"""`read_answer_als` on a small synthetic file set in the Answer ALS clinical layout (never
real data): day numbers relative to screening, onset and death on the same clock."""

from __future__ import annotations

import pytest

from alsjax import read_answer_als, read_measurements, write_measurements
from alsjax._errors import ALSJaxError

ITEMS = ("alsfrs1,alsfrs2,alsfrs3,alsfrs4,alsfrs5a,alsfrs5b,alsfrs6,alsfrs7,alsfrs8,"
         "alsfrs9,alsfrsr1,alsfrsr2,alsfrsr3")
# P1: three assessments, the second without a total (its items sum to 8*4 + 3 + 3*3 = 44,
# item 5 from 5b); P2: one before screening (day -10) and one with neither a total nor all
# items; P3: only Visit_Date for its day; C1: a control.
ALSFRS = f"""Participant_ID,SubjectUID,Form_Name,Visit_Name,Visit_Date,{ITEMS},alsfrsdt,alsfrst
CASE-P1,1,ALSFRS_R,Visit 1,0,4,4,4,4,4,,4,4,4,4,4,4,4,0,47
CASE-P1,1,ALSFRS_R,Visit 2,91,4,4,4,4,,3,4,4,4,4,3,3,3,92,
CASE-P1,1,ALSFRS_R,Visit 3,180,,,,,,,,,,,,,,181,40
CASE-P2,2,ALSFRS_R,Visit 0,-10,,,,,,,,,,,,,,-10,44
CASE-P2,2,ALSFRS_R,Visit 1,0,,,,,,,,,,,,,,0,42
CASE-P2,2,ALSFRS_R,Visit 2,90,3,3,,3,3,,3,3,3,3,3,3,3,90,
CASE-P3,3,ALSFRS_R,Visit 1,5,,,,,,,,,,,,,,,39
CASE-C1,4,ALSFRS_R,Visit 1,0,,,,,,,,,,,,,,0,48
""".replace("\\\n", "")
HISTORY = """Participant_ID,SubjectUID,Form_Name,Visit_Name,Visit_Date,alsdxloc,diagdt,onsetdt
CASE-P1,1,AALSHXFX,Visit 1,0,1,-100,-400
CASE-P2,2,AALSHXFX,Visit 1,0,1,-50,-250
CASE-C1,4,AALSHXFX,Visit 1,0,,,
"""
MORTALITY = """Participant_ID,SubjectUID,Form_Name,Visit_Name,dieddt,diedcaus
CASE-P2,2,Mortality,Log,300,respiratory failure
CASE-P3,3,Mortality,Log,,
"""
SUBJECTS = """Participant_ID,SubjectUID,subject_group_id
CASE-P1,1,1
CASE-P2,2,1
CASE-P3,3,1
CASE-C1,4,5
"""

# Self-reported results, 1 positive and 2 negative: P1 SOD1 (at its second visit's row),
# P2 TDP-43 (the model's TARDBP), P3 two genes.
GENES = """Participant_ID,SubjectUID,Form_Name,Visit_Name,Visit_Date,c9orf72,c9orfnd,fus,fusnd,\
sod1,sod1nd,tdp43,tdp43nd
CASE-P1,1,ALS_Gene_Mutations,Visit 1,0,2,0,2,0,,1,2,0
CASE-P1,1,ALS_Gene_Mutations,Visit 2,91,2,0,2,0,1,0,2,0
CASE-P2,2,ALS_Gene_Mutations,Visit 1,0,2,0,,1,2,0,1,0
CASE-P3,3,ALS_Gene_Mutations,Visit 1,0,1,0,2,0,1,0,2,0
""".replace("\\\n", "")

# P1: riluzole (brand name) from before screening, restarted later, and edaravone from day
# 30; P2: riluzole with no start day; a drug the model lacks.
MEDICATIONS = """Participant_ID,SubjectUID,Form_Name,invdrg,med,meddose,medenddt,medstdt
CASE-P1,1,Medications_Log,,Rilutek,50,,-200
CASE-P1,1,Medications_Log,,riluzole,50,,60
CASE-P1,1,Medications_Log,,RADICAVA ORS,105,,30
CASE-P2,2,Medications_Log,,Riluzole 50 mg,50,,
CASE-P2,2,Medications_Log,,baclofen,10,,-30
"""


def _files(tmp_path, **tables):
    """Write the tables (default: all but the gene table) under the portal's names; return
    the folder."""
    names = {"alsfrs": ("ALSFRS_R.csv", ALSFRS), "history": ("AALSHXFX.csv", HISTORY),
             "mortality": ("Mortality.csv", MORTALITY), "subjects": ("subjects.csv", SUBJECTS),
             "genes": ("ALS_Gene_Mutations.csv", None),
             "medications": ("ANSWER_ALS_Medications_Log.csv", None)}
    for kind, (name, text) in names.items():
        text = tables.get(kind, text)
        if text is not None:
            (tmp_path / name).write_text(text)
    return tmp_path


def test_screening_days_totals_items_and_deaths(tmp_path):
    tidy = read_answer_als(_files(tmp_path))
    frs = tidy[tidy.observable == "alsfrs_r"]
    assert frs[["subject", "time", "value"]].values.tolist() == [
        ["CASE-P1", 0, 47], ["CASE-P1", 92, 44], ["CASE-P1", 181, 40],
        ["CASE-P2", 0, 42], ["CASE-P3", 5, 39]]
    dropped = tidy.attrs["dropped"]
    assert dropped["visits_before_day_0"] == 1  # P2's day -10
    assert dropped["visits_without_alsfrs_r"] == 1  # P2's day 90: an item missing
    assert dropped["subjects_not_als"] == 1  # the control
    assert dropped["deaths_without_day"] == 1  # P3: a death record without its day
    death = tidy[tidy.observable == "death"].set_index("subject")
    assert death.loc["CASE-P1", ["time", "value"]].tolist() == [181, 0]  # censored
    assert death.loc["CASE-P2", ["time", "value"]].tolist() == [300, 1]
    assert "CASE-P3" not in death.index  # died on an unknown day: neither row
    assert set(tidy.genotype) == {"sporadic"} and set(tidy.therapy) == {""}


def test_onset_alignment_and_round_trip(tmp_path):
    tidy = read_answer_als(_files(tmp_path), align="onset")
    assert set(tidy.subject) == {"CASE-P1", "CASE-P2"}
    assert tidy.attrs["dropped"]["subjects_without_onset"] == 1  # P3
    p1 = tidy[(tidy.subject == "CASE-P1") & (tidy.observable == "alsfrs_r")]
    assert p1.time.tolist() == [400, 492, 581]
    p2 = tidy[tidy.subject == "CASE-P2"]
    assert p2[p2.observable == "alsfrs_r"].time.tolist() == [240, 250]  # day -10 kept
    assert p2[p2.observable == "death"].time.iat[0] == 550
    out = tmp_path / "tidy.csv"
    write_measurements(tidy, out)
    back = read_measurements(out)
    assert len(back) == len(tidy) and set(back.kind) == {"measurement", "event"}


def test_left_out_participants_get_no_death_row_either(tmp_path):
    """A control's death record (the subjects table says group 5) and a two-gene
    participant's give no death row, even without an ALSFRS-R assessment of their own."""
    mortality = MORTALITY + "CASE-C9,9,Mortality,Log,400,\nCASE-P3,3,Mortality,Log,,\n"
    subjects = SUBJECTS + "CASE-C9,9,5\n"
    tidy = read_answer_als(_files(tmp_path, mortality=mortality, subjects=subjects))
    assert set(tidy[tidy.observable == "death"].subject) == {"CASE-P1", "CASE-P2"}
    with_genes = read_answer_als(_files(tmp_path, genes=GENES, mortality=MORTALITY.replace(
        "CASE-P3,3,Mortality,Log,,", "CASE-P3,3,Mortality,Log,90,")))
    assert "CASE-P3" not in set(with_genes.subject)  # two genes: its death row too


def test_genotypes_from_the_gene_table(tmp_path):
    """One positive result (over all of a participant's rows) gives that genotype; two drop
    the participant, deaths included; no positive result is sporadic."""
    tidy = read_answer_als(_files(tmp_path, genes=GENES))
    assert tidy.groupby("subject").genotype.first().to_dict() == {
        "CASE-P1": "SOD1", "CASE-P2": "TARDBP"}
    assert tidy.attrs["dropped"]["subjects_with_two_genotypes"] == 1
    out = tmp_path / "tidy.csv"
    write_measurements(tidy, out)
    assert set(read_measurements(out).genotype) == {"SOD1", "TARDBP"}


def test_therapy_from_the_medications_log(tmp_path):
    """The model's drugs by generic or brand name, each from its first logged start (day 0
    where none is given or it precedes day 0), shifted with the days under onset alignment;
    other drugs are not read."""
    folder = _files(tmp_path, medications=MEDICATIONS)
    screening = read_answer_als(folder).groupby("subject").therapy.first().to_dict()
    assert screening == {"CASE-P1": "riluzole:0,edaravone:30", "CASE-P2": "riluzole:0",
                         "CASE-P3": ""}
    onset = read_answer_als(folder, align="onset").groupby("subject").therapy.first()
    assert onset.to_dict() == {"CASE-P1": "riluzole:200,edaravone:430",
                               "CASE-P2": "riluzole:250"}
    out = tmp_path / "tidy.csv"
    write_measurements(read_answer_als(folder, align="onset"), out)
    assert set(read_measurements(out).therapy) == {"riluzole:200,edaravone:430",
                                                   "riluzole:250"}


def test_without_the_optional_tables(tmp_path):
    folder = _files(tmp_path, history=None, mortality=None, subjects=None)
    tidy = read_answer_als([folder / "ALSFRS_R.csv"])
    assert set(tidy.observable) == {"alsfrs_r"}
    assert "CASE-C1" in set(tidy.subject)  # no subjects table: nobody is dropped
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "v_NB_IATI_ALSFRS_R.csv").write_text(ALSFRS.lower())  # the portal's raw name
    assert len(read_answer_als(raw)) == len(tidy)


@pytest.mark.parametrize("tables, message", [
    ({"alsfrs": ALSFRS.replace("alsfrsdt", "day").replace("Visit_Date", "visit")},
     "ALSFRS_R.csv: missing column 'alsfrsdt' (or 'visit_date')"),
    ({"alsfrs": ALSFRS.replace(",181,40", ",181,4o")},
     "ALSFRS_R.csv, row 4, column 'alsfrst': not a number: '4o'"),
    ({"alsfrs": ALSFRS.replace(",181,40", ",181,50")},
     "ALSFRS_R.csv, row 4, column 'alsfrst': 50 is not a whole score from 0 to 48"),
    ({"alsfrs": ALSFRS.replace("Visit 2,91,4,4,4,4,,3", "Visit 2,91,4,4,4,4,,7")},
     "ALSFRS_R.csv, row 3, column 'alsfrs5b': 7 is not a whole score from 0 to 4"),
    ({"alsfrs": ALSFRS.replace("alsfrst", "total").replace("alsfrs7,", "a7,")},
     "ALSFRS_R.csv: missing column 'alsfrst' (or the twelve items alsfrs1-alsfrsr3)"),
    ({"alsfrs": ALSFRS.replace("CASE-P3,3,", ",3,")},
     "ALSFRS_R.csv, row 8, column 'participant_id': empty subject id"),
    ({"mortality": MORTALITY.replace("Log,300", "Log,3x")},
     "Mortality.csv, row 2, column 'dieddt': not a number: '3x'"),
    ({"mortality": MORTALITY + "CASE-P2,2,Mortality,Log,310,\n"},
     "Mortality.csv, row 4, column 'dieddt': participant 'CASE-P2' has a second day of death"),
    ({"mortality": MORTALITY.replace("Log,300", "Log,-5")},
     "Mortality.csv, row 2, column 'dieddt': participant 'CASE-P2' died on day -5, before"),
    ({"subjects": SUBJECTS.replace("subject_group_id", "group")},
     "subjects.csv: missing column 'subject_group_id'"),
    ({"alsfrs": None}, "no ALSFRS-R table"),
    ({"genes": GENES.replace("Visit 1,0,2,0,,1", "Visit 1,0,y,0,,1")},
     "ALS_Gene_Mutations.csv, row 4, column 'c9orf72': not a number: 'y'"),
    ({"genes": GENES.replace("tdp43,", "tdp,")},
     "ALS_Gene_Mutations.csv: missing column 'tdp43'"),
    ({"medications": MEDICATIONS.replace(",,30", ",,3O")},
     "ANSWER_ALS_Medications_Log.csv, row 4, column 'medstdt': not a number: '3O'"),
])
def test_malformed_input_is_one_line_naming_file_row_and_column(tmp_path, tables, message):
    with pytest.raises(ALSJaxError) as err:
        read_answer_als(_files(tmp_path, **tables))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_align_and_missing_history(tmp_path):
    with pytest.raises(ALSJaxError, match="align must be one of"):
        read_answer_als(_files(tmp_path), align="diagnosis")
    (tmp_path / "AALSHXFX.csv").unlink()
    with pytest.raises(ALSJaxError, match="needs the ALS history table"):
        read_answer_als(tmp_path, align="onset")


def test_cli_convert_writes_the_readers_frame_once(tmp_path, monkeypatch):
    """`alsjax convert answer-als`: the reader's frame as the tidy CSV, a summary, no
    overwrite without --force, one-line errors with exit code 2 (PRO-ACT alike)."""
    from typer.testing import CliRunner

    from alsjax.cli import app

    monkeypatch.setenv("ALSJAX_CACHE_DIR", "off")  # the CLI's on-disk cache: not in tests
    runner = CliRunner()
    folder = tmp_path / "download"
    folder.mkdir()
    _files(folder)
    out = tmp_path / "tidy.csv"
    result = runner.invoke(app, ["convert", "answer-als", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 subjects, 5 alsfrs_r, 2 death" in result.output
    assert "--align onset" in result.output
    expected = tmp_path / "expected.csv"
    write_measurements(read_answer_als(folder, align="onset"), expected)
    assert out.read_bytes() == expected.read_bytes()
    again = runner.invoke(app, ["convert", "answer-als", str(folder), "--out", str(out)])
    assert again.exit_code == 2 and "exists" in again.output
    bad = runner.invoke(app, ["convert", "proact", str(folder), "--out",
                              str(tmp_path / "other.csv")])
    assert bad.exit_code == 2 and "missing column 'subject_id'" in bad.output
    align = runner.invoke(app, ["convert", "answer-als", str(folder), "--align", "trial",
                                "--out", str(tmp_path / "other.csv")])
    assert align.exit_code == 2 and "--align: answer-als days can start at" in align.output
    assert not (tmp_path / "other.csv").exists()
