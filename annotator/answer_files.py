"""Answers as CSV files: the long export (a row per answer, with the participants' background answers)
and the all-or-nothing import of answers collected elsewhere, whose every error names the line and
column; and the participants' visits to the training gallery as CSV.

Practice answers of the training phase (``PracticeAnswer``) are in neither file.

Text cells that a spreadsheet would run as a formula are written with a leading apostrophe
(``site_machinery.csv_safety``), and read back without it, so an export still imports as it is."""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.answers import MOST_ACTIVE_SECONDS_REPORTED, MOST_SECONDS_AGO
from annotator.assistance import assistance_of
from annotator.models import EARLIEST_MOMENT, Answer, Arm, Suggestion, AnswerHistory, Cohort, GalleryVisit, Participant, config_of
from site_machinery import csv_safety
from study.models import Study, StudySample, name_validator
from study.operations import OperationError


EXPORT_COLUMNS = (
    "study",
    "participant",
    "cohort",
    "simulated",
    "sample",
    "position",
    "repeat",
    "class_index",
    "class_name",
    "answered_at",
    "active_seconds",
    "changes",
    "arm",
    "session",
    "suggested_class",
    "suggestion_probability",
    "suggestion_source",
    "seconds_before_suggestion",
    "seconds_after_suggestion",
)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


BACKGROUND_PREFIX = "background_"


def background_columns(study: Study) -> list[str]:
    """The export's columns of the study's background questions: ``background_<question name>``."""
    return [f"{BACKGROUND_PREFIX}{key}" for key in config_of(study).background_keys()]


def _write_csv(destination: str | Path | TextIO, write) -> int:
    if isinstance(destination, (str, Path)):
        path = Path(destination)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            return write(handle)
    return write(destination)


def export_answers(study: Study, destination: str | Path | TextIO) -> int:
    """Write every answer of the study as CSV (``EXPORT_COLUMNS``, then ``background_<question>`` for
    each question of the study's background form) to a path or an open text file; returns the number
    of answers.

    One row per answer, by participant and then in that participant's presentation order:
    ``sample`` is the sample's source id, ``position`` the 1-based place of the case in the
    participant's own order (``Participant.cases``), ``repeat`` 0 for the first reading of a case and
    1 for the second reading of a repeated one, ``answered_at`` the time of the current value. The
    background columns repeat the participant's answers on each of their rows (empty when not given).
    """
    return _write_csv(destination, lambda handle: _write_answers(study, handle))


def _write_answers(study: Study, handle: TextIO) -> int:
    writer = csv_safety.writer(handle)
    keys = config_of(study).background_keys()
    writer.writerow(list(EXPORT_COLUMNS) + background_columns(study))
    label_set = study.label_set
    by_participant: dict[int, dict[tuple[int, int], list[Answer]]] = defaultdict(lambda: defaultdict(list))
    for answer in Answer.readings.filter(participant__study=study):
        by_participant[answer.participant_id][(answer.item_id, answer.repeat)].append(answer)
    written = 0
    for participant in study.participants.select_related("cohort").order_by("pseudonym"):
        answers = by_participant.get(participant.pk)
        if not answers:
            continue
        background = [_blank_if_none(participant.background.get(key)) for key in keys]
        for case in participant.cases():
            # By session, and in a session the answer alone before the aided one.
            for answer in sorted(answers.get((case.item.pk, case.repeat), []), key=lambda a: (a.session, a.arm != Arm.UNAIDED)):
                writer.writerow(
                    [
                        study.name,
                        participant.pseudonym,
                        participant.cohort.name,
                        _BOOL_TEXT[participant.simulated],
                        case.item.sample.source_id,
                        case.number,
                        case.repeat,
                        answer.class_index,
                        label_set.by_index(answer.class_index).name,
                        iso_utc(answer.answered_at),
                        answer.active_seconds,
                        answer.changes,
                        answer.arm,
                        answer.session,
                        _blank_if_none(answer.suggested_class),
                        _blank_if_none(answer.suggestion_probability),
                        answer.suggestion_source,
                        _blank_if_none(answer.seconds_before_suggestion),
                        _blank_if_none(answer.seconds_after_suggestion),
                    ]
                    + background
                )
                written += 1
    return written


def _blank_if_none(value) -> str | int | float:
    return "" if value is None else value


GALLERY_VISIT_COLUMNS = (
    "study",
    "participant",
    "cohort",
    "simulated",
    "class_index",
    "class_name",
    "sample",
    "viewed_at",
)


def opaque_sample_id(sample) -> str:
    """A stable id of a sample that names nothing about it: the first 16 hex digits of the SHA-256 of
    its data set and source id (the same in every export, and computable from the source id)."""
    return hashlib.sha256(f"{sample.dataset.name}/{sample.source_id}".encode()).hexdigest()[:16]


def export_gallery_visits(study: Study, destination: str | Path | TextIO) -> int:
    """Write every visit of the study's participants to a gallery example as CSV
    (``GALLERY_VISIT_COLUMNS``), oldest first; returns the number of visits.

    ``class_index``/``class_name`` are the gallery page's class (the one the participant was looking
    at examples of), ``sample`` the example's opaque id (``opaque_sample_id``), ``viewed_at`` when it
    was shown (ISO 8601, UTC). For the study of anchoring: what a reader looked at before a case.
    """
    return _write_csv(destination, lambda handle: _write_gallery_visits(study, handle))


def _write_gallery_visits(study: Study, handle: TextIO) -> int:
    writer = csv_safety.writer(handle)
    writer.writerow(GALLERY_VISIT_COLUMNS)
    label_set = study.label_set
    visits = (
        GalleryVisit.objects.filter(participant__study=study)
        .select_related("participant__cohort", "sample__dataset")
        .order_by("visited_at", "id")
    )
    written = 0
    for visit in visits:
        writer.writerow(
            [
                study.name,
                visit.participant.pseudonym,
                visit.participant.cohort.name,
                _BOOL_TEXT[visit.participant.simulated],
                visit.class_index,
                label_set.by_index(visit.class_index).name,
                opaque_sample_id(visit.sample),
                iso_utc(visit.visited_at),
            ]
        )
        written += 1
    return written


_BOOL_TEXT = {True: "true", False: "false"}
# An answer changed more often than this is no answer; a number longer than this is no count.
MOST_CHANGES = 10_000
MOST_DIGITS = 9
_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False, "": False}
IMPORT_REQUIRED_COLUMNS = ("participant", "cohort", "sample")
# The class may be given in any of these columns; the first one present is used.
IMPORT_CLASS_COLUMNS = ("class", "class_index", "class_name")


def import_answers(study: Study, path: str | Path) -> int:
    """Add the answers in a CSV file to the study, all or nothing; returns how many were added.

    The first line names the columns, in any order: ``participant`` (a pseudonym), ``cohort``,
    ``sample`` (the sample's source id) and the class as ``class`` (an index or a class name),
    ``class_index`` or ``class_name``. Optional: ``answered_at`` (ISO 8601; a time without a zone
    is UTC), ``active_seconds``, ``changes``, ``simulated`` (true/false) and ``repeat`` (0, the
    first reading, or 1, the second reading of one of the study's repeated cases). A study read with
    suggestions needs ``arm`` (unaided or aided) on every row, and takes ``session`` (1, or 2 in a
    crossover study), ``suggested_class`` (which must be the suggestion frozen for the case) and
    ``seconds_before_suggestion``/``seconds_after_suggestion``; in a sequential study an aided answer
    needs the answer alone to the same case. Other columns are ignored, so a file of
    ``export_answers`` imports as it is.

    A pseudonym the study does not know becomes a new participant of the named cohort (the cohort
    too is created when missing), with no account and not simulated unless the file says so. Any
    error (it names the line and column) leaves the database as it was. Answers given elsewhere
    were not seen under this study's display settings, so their ``display_percentiles`` are empty.
    """
    path = Path(path)
    rows = _read_csv_rows(path)
    try:
        with transaction.atomic():
            pending = _AnswerFile(study, path, rows).validated()
            return _store_answers(study, pending)
    except IntegrityError:
        raise OperationError(
            f"{path}: answers of these participants were saved while the file was imported; "
            "nothing was imported, try again"
        ) from None


def _read_csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """The file's non-blank rows, each with the line it starts on."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise OperationError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise OperationError(
            f"{path}, line {line}: byte {data[error.start]:#04x} is not UTF-8 text; save the file as UTF-8 CSV"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, end = [], 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if any(cell.strip() for cell in row):
                rows.append((start, row))
    except csv.Error as error:
        raise OperationError(f"{path}, line {reader.line_num}: not valid CSV ({error})") from None
    return rows


@dataclass(frozen=True)
class _PendingAnswer:
    pseudonym: str
    cohort: str
    simulated: bool
    item: StudySample
    repeat: int
    class_index: int
    answered_at: datetime
    active_seconds: float
    changes: int
    arm: str = Arm.UNAIDED
    session: int = 1
    suggestion: Suggestion | None = None
    seconds_before_suggestion: float | None = None
    seconds_after_suggestion: float | None = None


class _AnswerFile:
    """Checks an answer file against the study before anything is written."""

    def __init__(self, study: Study, path: Path, rows: list[tuple[int, list[str]]]):
        self.study, self.path, self.label_set = study, path, study.label_set
        if not rows:
            raise OperationError(f"{path}, line 1: the file is empty; {self._header_hint()}")
        self.header_line, header = rows[0]
        self.rows = rows[1:]
        self.columns: dict[str, int] = {}
        for number, name in enumerate(header, start=1):
            key = name.strip().lower()
            if key in self.columns:
                raise OperationError(f"{path}, line {self.header_line}, column {number}: {key!r} is named twice")
            if key:
                self.columns[key] = number - 1
        missing = [name for name in IMPORT_REQUIRED_COLUMNS if name not in self.columns]
        self.class_column = next((name for name in IMPORT_CLASS_COLUMNS if name in self.columns), None)
        if self.class_column is None:
            missing.append("class")
        if missing:
            raise OperationError(
                f"{path}, line {self.header_line}: no column {', '.join(missing)}; {self._header_hint()}"
            )
        self.width = len(header)

    @staticmethod
    def _header_hint() -> str:
        return "the first line must name the columns participant, cohort, sample and class (an index or a name)"

    def fail(self, line: int, column: str, message: str):
        raise OperationError(f"{self.path}, line {line}, column {self.columns[column] + 1} ({column}): {message}")

    def cell(self, row: list[str], column: str) -> str | None:
        """The stripped value of an optional column, or None when the file has no such column."""
        return csv_safety.unsafe_cell(row[self.columns[column]].strip()) if column in self.columns else None

    def validated(self) -> list[_PendingAnswer]:
        self.assistance = assistance_of(self.study)
        if self.assistance.assisted and "arm" not in self.columns:
            raise OperationError(
                f"{self.path}, line {self.header_line}: study {self.study.name} is read with suggestions "
                f"({self.assistance.design}): give each answer's arm (unaided or aided) in a column arm"
            )
        self.suggestions = {s.item_id: s for s in Suggestion.objects.filter(study=self.study)}
        ordered = list(self.study.items.select_related("sample").order_by("position"))
        items = {item.sample.source_id: item for item in ordered}
        self.repeated = {ordered[i].pk for i in config_of(self.study).repeated_item_indices(len(ordered))}
        known = {p.pseudonym: p for p in self.study.participants.select_related("cohort")}
        answered = set(
            Answer.readings.filter(participant__study=self.study).values_list(
                "participant__pseudonym", "item_id", "repeat", "arm"
            )
        )
        first_line: dict[tuple[str, int, int, str], int] = {}
        people: dict[str, tuple[str, bool, int]] = {}
        now = timezone.now()
        pending = []
        for line, row in self.rows:
            if len(row) != self.width:
                raise OperationError(
                    f"{self.path}, line {line}: {len(row)} fields, but the first line names {self.width} columns"
                )
            answer = self._row(line, row, items, now)
            pseudonym = answer.pseudonym
            if pseudonym in known:
                participant = known[pseudonym]
                self._check_same_participant(line, row, participant.cohort.name, participant.simulated, "in the study")
            elif pseudonym in people:
                cohort, simulated, seen = people[pseudonym]
                self._check_same_participant(line, row, cohort, simulated, f"on line {seen}")
            else:
                people[pseudonym] = (answer.cohort, answer.simulated, line)
            key = (pseudonym, answer.item.pk, answer.repeat, answer.arm)
            source_id = answer.item.sample.source_id
            reading = (" (its second reading)" if answer.repeat else "") + (" with the suggestion" if answer.arm == Arm.AIDED else "")
            if key in first_line:
                self.fail(
                    line, "sample", f"{pseudonym} answers {source_id!r}{reading} twice (also on line {first_line[key]})"
                )
            if key in answered:
                self.fail(
                    line, "sample",
                    f"{pseudonym} has an answer for {source_id!r}{reading} already; import their answers once",
                )
            first_line[key] = line
            pending.append(answer)
        if not pending:
            raise OperationError(f"{self.path}: no answers after the first line")
        if self.assistance.sequential:
            self._check_answers_alone(pending, first_line, answered)
        return pending

    def _check_answers_alone(self, pending, first_line, answered) -> None:
        """In a sequential study an aided answer follows the answer alone to the same case."""
        for answer in pending:
            if answer.arm != Arm.AIDED:
                continue
            alone = (answer.pseudonym, answer.item.pk, answer.repeat, Arm.UNAIDED)
            if alone not in first_line and alone not in answered:
                line = first_line[(answer.pseudonym, answer.item.pk, answer.repeat, Arm.AIDED)]
                self.fail(
                    line, "arm",
                    f"{answer.pseudonym} has no answer alone for {answer.item.sample.source_id!r}: in a sequential "
                    "study the aided answer follows it",
                )

    def _check_same_participant(self, line, row, cohort: str, simulated: bool, where: str) -> None:
        pseudonym = self.cell(row, "participant")
        if self.cell(row, "cohort") != cohort:
            self.fail(line, "cohort", f"{pseudonym} is in cohort {cohort!r} {where}")
        given = self.cell(row, "simulated")
        if given and _BOOL_WORDS[given.lower()] != simulated:
            self.fail(line, "simulated", f"{pseudonym} is {'' if simulated else 'not '}simulated {where}")

    def _row(self, line: int, row: list[str], items: dict[str, StudySample], now: datetime) -> _PendingAnswer:
        pseudonym = self.cell(row, "participant")
        if not pseudonym:
            self.fail(line, "participant", "is empty; give the participant's pseudonym")
        limit = Participant._meta.get_field("pseudonym").max_length
        if len(pseudonym) > limit:
            self.fail(line, "participant", f"a pseudonym has at most {limit} characters")
        cohort = self.cell(row, "cohort")
        try:
            name_validator(cohort)
            if len(cohort) > Cohort._meta.get_field("name").max_length:
                raise ValidationError("too long")
        except ValidationError:
            self.fail(line, "cohort", f"{cohort!r} is not a cohort name (letters, digits, '.', '_', '-'; e.g. expert)")
        source_id = self.cell(row, "sample")
        if source_id not in items:
            self.fail(line, "sample", f"{source_id!r} is not a sample of study {self.study.name}")
        return _PendingAnswer(
            pseudonym=pseudonym,
            cohort=cohort,
            simulated=self._simulated(line, row),
            item=items[source_id],
            repeat=self._repeat(line, row, items[source_id]),
            class_index=self._class_index(line, self.cell(row, self.class_column)),
            answered_at=self._answered_at(line, row, now),
            active_seconds=self._active_seconds(line, row),
            changes=self._changes(line, row),
            **self._assisted(line, row, items[source_id]),
        )

    def _assisted(self, line: int, row: list[str], item: StudySample) -> dict:
        """The arm (and, for an aided answer, the frozen suggestion it was given beside and its seconds)."""
        arm = self.cell(row, "arm") or ""
        if not arm and self.assistance.assisted:
            self.fail(line, "arm", "is empty; give unaided or aided")
        arm = arm or Arm.UNAIDED
        if arm not in Arm.values:
            self.fail(line, "arm", f"{arm!r}: expected unaided or aided")
        if arm == Arm.UNAIDED:
            return {"arm": arm, "session": self._session(line, row)}
        if not self.assistance.assisted:
            self.fail(line, "arm", f"study {self.study.name} shows no suggestions; every answer is unaided")
        suggestion = self.suggestions[item.pk]
        given = self.cell(row, "suggested_class")
        if given and given != str(suggestion.class_index):
            self.fail(
                line, "suggested_class",
                f"{given!r} is not the suggestion frozen for {item.sample.source_id!r} in this study "
                f"({suggestion.class_index}, {suggestion.source})",
            )
        return {
            "arm": arm,
            "session": self._session(line, row),
            "suggestion": suggestion,
            "seconds_before_suggestion": self._optional_seconds(line, row, "seconds_before_suggestion"),
            "seconds_after_suggestion": self._optional_seconds(line, row, "seconds_after_suggestion"),
        }

    def _session(self, line: int, row: list[str]) -> int:
        text = self.cell(row, "session") or "1"
        if text not in ("1", "2") or (text == "2" and not self.assistance.crossover):
            self.fail(line, "session", f"{text!r}: expected 1{' or 2 (a crossover study)' if self.assistance.crossover else ''}")
        return int(text)

    def _optional_seconds(self, line: int, row: list[str], column: str) -> float | None:
        text = self.cell(row, column)
        if not text:
            return None
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not 0 <= seconds <= MOST_SECONDS_AGO:
            self.fail(line, column, f"{text!r}: expected a number of seconds from 0 to {MOST_SECONDS_AGO:,.0f}")
        return seconds

    def _class_index(self, line: int, text: str) -> int:
        size = len(self.label_set)
        if not text:
            self.fail(line, self.class_column, "is empty; give a class index or name")
        if re.fullmatch(r"[+-]?\d+", text, re.ASCII):
            if len(text) > MOST_DIGITS or not 0 <= int(text) < size:
                shown = text if len(text) <= 12 else f"{text[:12]}..."
                self.fail(line, self.class_column, f"class {shown} is out of range (the study's: 0-{size - 1})")
            return int(text)
        try:
            return self.label_set.by_name(text).index
        except KeyError:
            self.fail(line, self.class_column, f"{text!r} is not a class of the label set {self.label_set.title!r}")

    def _repeat(self, line: int, row: list[str], item: StudySample) -> int:
        text = self.cell(row, "repeat")
        if not text:
            return 0
        if text not in ("0", "1"):
            self.fail(line, "repeat", f"{text!r}: expected 0 (the first reading) or 1 (the second)")
        if text == "1" and item.pk not in self.repeated:
            self.fail(
                line, "repeat", f"{item.sample.source_id!r} is not one of the cases study {self.study.name} repeats"
            )
        return int(text)

    def _simulated(self, line: int, row: list[str]) -> bool:
        text = (self.cell(row, "simulated") or "").lower()
        if text not in _BOOL_WORDS:
            self.fail(line, "simulated", f"{text!r}: expected true or false")
        return _BOOL_WORDS[text]

    def _answered_at(self, line: int, row: list[str], now: datetime) -> datetime:
        text = self.cell(row, "answered_at")
        if not text:
            return now
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(line, "answered_at", f"{text!r} is not an ISO 8601 time such as 2024-05-01T14:03:00Z")
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if not EARLIEST_MOMENT <= moment <= now:
            self.fail(line, "answered_at", f"{text!r}: expected a time from {EARLIEST_MOMENT:%Y} up to now")
        return moment

    def _active_seconds(self, line: int, row: list[str]) -> float:
        text = self.cell(row, "active_seconds")
        if not text:
            return 0.0
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not 0 <= seconds <= MOST_ACTIVE_SECONDS_REPORTED:
            self.fail(
                line, "active_seconds", f"{text!r}: expected a number of seconds from 0 to {MOST_ACTIVE_SECONDS_REPORTED:,.0f}"
            )
        return seconds

    def _changes(self, line: int, row: list[str]) -> int:
        text = self.cell(row, "changes")
        if not text:
            return 0
        if not re.fullmatch(r"\d+", text, re.ASCII) or len(text) > MOST_DIGITS or int(text) > MOST_CHANGES:
            self.fail(line, "changes", f"{text!r}: expected a whole number from 0 to {MOST_CHANGES:,}")
        return int(text)


def _store_answers(study: Study, pending: list[_PendingAnswer]) -> int:
    cohorts = {cohort.name: cohort for cohort in study.cohorts.all()}
    participants = {participant.pseudonym: participant for participant in study.participants.all()}
    for answer in pending:
        if answer.cohort not in cohorts:
            cohorts[answer.cohort] = Cohort.objects.create(study=study, name=answer.cohort)
        if answer.pseudonym not in participants:
            participants[answer.pseudonym] = Participant.objects.create(
                study=study,
                cohort=cohorts[answer.cohort],
                pseudonym=answer.pseudonym,
                order_seed=Participant.new_order_seed(),
                simulated=answer.simulated,
            )
    stored = Answer.readings.bulk_create(
        Answer(
            participant=participants[answer.pseudonym],
            item=answer.item,
            repeat=answer.repeat,
            arm=answer.arm,
            session=answer.session,
            class_index=answer.class_index,
            answered_at=answer.answered_at,
            active_seconds=answer.active_seconds,
            changes=answer.changes,
            display_percentiles={},
            suggested_class=answer.suggestion.class_index if answer.suggestion else None,
            suggestion_probability=answer.suggestion.probability if answer.suggestion else None,
            suggestion_source=answer.suggestion.source if answer.suggestion else "",
            seconds_before_suggestion=answer.seconds_before_suggestion,
            seconds_after_suggestion=answer.seconds_after_suggestion,
        )
        for answer in pending
    )
    AnswerHistory.objects.bulk_create(
        AnswerHistory(answer=a, class_index=a.class_index, answered_at=a.answered_at, active_seconds=a.active_seconds)
        for a in stored
    )
    return len(stored)
