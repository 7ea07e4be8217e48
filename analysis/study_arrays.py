"""From the database to what a report is computed from (``analysis.report_inputs``): the study's
truth, its people's answers (by pseudonym, cohort and whether simulated), the models' predictions in the
study's sample order, and the data set's test split with the runs that predicted all of it; what the
sections on the readers need (``annotator.reader_data``): each answer's active seconds, whether its
class had been looked up in the gallery before it, the second readings of repeated cases, the answers
to the background form and the instructions each reader was shown; the aided readings of a study read
with the machine's suggestion (``AssistedArm``); and the cases' panels and the report's preface
(``report_inputs``).

A missing answer or prediction is -1 (``analysis.reader_arrays.NO_ANSWER``), so it is counted, never lost.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

import numpy as np
from django.db.models import Count, Min

from analysis.models import ReportPreface
from analysis.report_inputs import (
    AssistedArm,
    CasePanels,
    ClassLookup,
    InstructionsRecord,
    ModelAnswers,
    Person,
    Repeats,
    ReportError,
    ReportInputs,
    ReportOptions,
    StudyAnswers,
    TestSplit,
    TestSplitRun,
)
from annotator.assistance import assistance_of
from annotator.models import Answer, Arm, GalleryVisit, Participant, Suggestion, config_of
from annotator.reader_data import instructions_seen, reader_covariates, repeat_readings
from analysis.reader_arrays import NO_ANSWER
from models_zoo.models import ModelRun, Prediction
from study.models import ReferenceLabel, Sample, Study

PREDICTION_THRESHOLD = 0.5


def _single_class_truth(study: Study, sample_pks: list[int], source_ids: list[str]) -> np.ndarray:
    labels = defaultdict(list)
    for sample_id, class_index in ReferenceLabel.objects.filter(sample_id__in=sample_pks).values_list(
        "sample_id", "class_index"
    ):
        labels[sample_id].append(class_index)
    truth = np.empty(len(sample_pks), dtype=np.int64)
    for column, (pk, source_id) in enumerate(zip(sample_pks, source_ids)):
        if len(labels[pk]) != 1:
            raise ReportError(
                f"study {study.name}: sample {source_id} has {len(labels[pk])} reference labels; "
                "a study sample needs exactly one"
            )
        truth[column] = labels[pk][0]
    return truth


def default_model_runs(study: Study) -> list[ModelRun]:
    """The runs that predicted every study sample: single-class (fine-tuned) runs first, then by name."""
    n_items = study.items.count()
    runs = []
    for run in ModelRun.objects.for_dataset(study.dataset_id).order_by("name"):
        covered = Prediction.objects.filter(run=run, sample__study_items__study=study).count()
        if n_items and covered == n_items:
            runs.append(run)
    return sorted(runs, key=lambda run: not run.single_class)


def model_runs_named(study: Study, names: list[str]) -> list[ModelRun]:
    runs = []
    for name in names:
        try:
            run = ModelRun.objects.get(name=name)
        except ModelRun.DoesNotExist:
            known = ", ".join(ModelRun.objects.for_dataset(study.dataset_id).values_list("name", flat=True))
            raise ReportError(f"--model {name}: no such model run (runs on {study.dataset.name}: {known or 'none'})")
        if run.dataset.label_set_key != study.dataset.label_set_key:
            raise ReportError(
                f"--model {name}: the run predicts the {run.dataset.label_set_key} classes, the study uses "
                f"{study.dataset.label_set_key}"
            )
        runs.append(run)
    if len(set(names)) != len(names):
        raise ReportError("--model: a run is named twice")
    return runs


def _top_classes(run: ModelRun, column_of: dict[int, int], n_samples: int) -> np.ndarray:
    answers = np.full(n_samples, NO_ANSWER, dtype=np.int64)
    rows = Prediction.objects.filter(run=run, sample_id__in=column_of).values_list(
        "sample_id", "probabilities", "classes"
    )
    for sample_id, probabilities, classes in rows:
        if probabilities:
            answers[column_of[sample_id]] = int(np.argmax(probabilities))
        elif classes:
            answers[column_of[sample_id]] = int(classes[0])
    return answers


def _test_split(study: Study, n_classes: int) -> TestSplit:
    """Multi-label truth of the data set's test split and the runs that predicted all of it (Tables 1, 7)."""
    tests = Sample.objects.filter(dataset=study.dataset_id, split=Sample.Split.TEST).order_by("source_id")
    test_pks = list(tests.values_list("pk", flat=True))
    row_of = {pk: row for row, pk in enumerate(test_pks)}
    truth = np.zeros((len(test_pks), n_classes), dtype=bool)
    labels = ReferenceLabel.objects.filter(sample_id__in=row_of).values_list("sample_id", "class_index")
    for sample_id, class_index in labels:
        truth[row_of[sample_id], class_index] = True
    runs, incomplete = [], {}
    for run in ModelRun.objects.for_dataset(study.dataset_id).order_by("name"):
        predictions = Prediction.objects.filter(run=run, sample_id__in=row_of)
        rows = list(predictions.values_list("sample_id", "probabilities", "classes"))
        if not rows:
            continue
        if len(rows) < len(test_pks):
            incomplete[run.name] = len(rows)
            continue
        predicted = np.zeros_like(truth)
        with_probabilities = all(probabilities for _, probabilities, _ in rows)
        probabilities = np.zeros(truth.shape, dtype=float) if with_probabilities else None
        for sample_id, row_probabilities, classes in rows:
            predicted[row_of[sample_id], classes] = True
            if probabilities is not None:
                probabilities[row_of[sample_id]] = row_probabilities
        if probabilities is not None:
            predicted = probabilities >= PREDICTION_THRESHOLD
        runs.append(TestSplitRun(name=run.name, predicted=predicted, probabilities=probabilities))
    return TestSplit(truth=truth, runs=tuple(runs), incomplete=incomplete)


def study_answers(study: Study, model_runs: list[ModelRun] | None = None) -> StudyAnswers:
    """The study as arrays. ``model_runs`` default to ``default_model_runs``; the first is "the model"."""
    items = list(study.items.order_by("position").values_list("pk", "position", "sample_id", "sample__source_id"))
    if not items:
        raise ReportError(f"study {study.name}: has no samples")
    item_pks, positions, sample_pks, source_ids = (list(column) for column in zip(*items))
    column_of_item = {pk: column for column, pk in enumerate(item_pks)}
    column_of_sample = {pk: column for column, pk in enumerate(sample_pks)}
    label_set = study.label_set
    truth = _single_class_truth(study, sample_pks, source_ids)

    participants = list(
        Participant.objects.filter(study=study).select_related("cohort").order_by("cohort__name", "pseudonym")
    )
    row_of = {p.pk: row for row, p in enumerate(participants)}
    answers = np.full((len(participants), len(items)), NO_ANSWER, dtype=np.int16)
    seconds = np.full(answers.shape, np.nan)
    looked_up = np.zeros(answers.shape, dtype=bool)
    first_look, gallery = _gallery_lookups(study, participants)
    for participant_id, item_id, class_index, active_seconds, answered_at in Answer.objects.filter(
        participant__study=study
    ).values_list("participant_id", "item_id", "class_index", "active_seconds", "answered_at"):
        row, column = row_of[participant_id], column_of_item[item_id]
        answers[row, column] = class_index
        if active_seconds > 0:
            seconds[row, column] = active_seconds
        looked = first_look.get((participant_id, int(truth[column])))
        looked_up[row, column] = looked is not None and looked < answered_at

    if model_runs is None:
        model_runs = default_model_runs(study)
    models = tuple(
        ModelAnswers(name=run.name, kind=run.kind, answers=_top_classes(run, column_of_sample, len(items)))
        for run in model_runs
    )
    config = config_of(study)
    covariates = reader_covariates(study)
    seen = instructions_seen(study)
    instructions = tuple(
        InstructionsRecord(p.pseudonym, version.digest, _utc(version.first_seen_at))
        for p in participants
        for version in seen.get(p.pseudonym, [])
    )
    texts = {version.digest: version.text for versions in seen.values() for version in versions}
    return StudyAnswers(
        study=study.name,
        dataset=study.dataset.name,
        class_names=tuple(label_set.names),
        sample_ids=tuple(source_ids),
        positions=np.asarray(positions, dtype=np.int64),
        truth=truth,
        people=tuple(Person(p.pseudonym, p.cohort.name, p.simulated) for p in participants),
        answers=answers,
        models=models,
        test_split=_test_split(study, len(label_set)),
        seconds=seconds,
        looked_up=looked_up,
        gallery=gallery,
        repeats=_repeats(study, participants, positions),
        covariate_keys=tuple(config.background_keys()),
        covariate_labels={item["key"]: item.get("label") or item["key"] for item in config.background_fields or []},
        covariates={p.pseudonym: covariates.get(p.pseudonym, {}) for p in participants},
        instructions=instructions,
        instructions_texts=dict(sorted(texts.items())),
        assisted=_assisted_arm(study, participants, column_of_item, answers.shape),
    )


def _assisted_arm(
    study: Study, participants: list[Participant], column_of_item: dict[int, int], shape: tuple[int, int]
) -> AssistedArm | None:
    """The aided readings of an assisted study beside the sessions of its unaided ones (first readings
    only: a repeated case's second reading is test-retest's); None for a study read unaided."""
    assistance = assistance_of(study)
    if not assistance.assisted:
        return None
    row_of = {p.pk: row for row, p in enumerate(participants)}
    aided = np.full(shape, NO_ANSWER, dtype=np.int16)
    suggestion = aided.copy()
    controlled = np.zeros(shape, dtype=bool)
    aided_seconds = np.full(shape, np.nan)
    after_suggestion = np.full(shape, np.nan)
    sessions = {Arm.UNAIDED: np.zeros(shape, dtype=np.int8), Arm.AIDED: np.zeros(shape, dtype=np.int8)}
    readings = Answer.readings.filter(participant__study=study, repeat=0).values_list(
        "participant_id", "item_id", "arm", "session", "class_index", "suggested_class", "suggestion_source",
        "active_seconds", "seconds_after_suggestion",
    )
    for participant_id, item_id, arm, session, class_index, suggested, source, active, after in readings:
        row, column = row_of[participant_id], column_of_item[item_id]
        sessions[arm][row, column] = session
        if arm != Arm.AIDED:
            continue
        aided[row, column] = class_index
        suggestion[row, column] = suggested
        controlled[row, column] = source == Suggestion.Source.CONTROLLED
        if active > 0:
            aided_seconds[row, column] = active
        if after is not None:
            after_suggestion[row, column] = after
    return AssistedArm(
        design=assistance.design,
        source=assistance.source,
        aided=aided,
        suggestion=suggestion,
        controlled=controlled,
        aided_seconds=aided_seconds,
        seconds_after_suggestion=after_suggestion,
        unaided_session=sessions[Arm.UNAIDED],
        aided_session=sessions[Arm.AIDED],
        sequence_groups=tuple(p.sequence_group for p in participants),
    )


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gallery_lookups(study: Study, participants: list[Participant]):
    """{(participant id, class index): first visit} and the ``ClassLookup`` of every reader and class
    they looked at, readers in the report's order and classes by index."""
    first_look, by_participant = {}, defaultdict(list)
    visits = (
        GalleryVisit.objects.filter(participant__study=study)
        .values("participant_id", "class_index")
        .annotate(first=Min("visited_at"), n=Count("id"))
        .order_by("participant_id", "class_index")
    )
    for visit in visits:
        first_look[(visit["participant_id"], visit["class_index"])] = visit["first"]
        by_participant[visit["participant_id"]].append(visit)
    lookups = tuple(
        ClassLookup(p.pseudonym, visit["class_index"], _utc(visit["first"]), visit["n"])
        for p in participants
        for visit in by_participant[p.pk]
    )
    return first_look, lookups


def _repeats(study: Study, participants: list[Participant], positions: list[int]) -> Repeats:
    """The second readings of the repeated cases, in columns of the cases someone read twice."""
    readings = repeat_readings(study)
    column_of_position = {position: column for column, position in enumerate(positions)}
    read_twice = sorted({pair.position for pairs in readings.values() for pair in pairs})
    columns = np.array([column_of_position[position] for position in read_twice], dtype=np.int64)
    place = {position: k for k, position in enumerate(read_twice)}
    first = np.full((len(participants), len(read_twice)), NO_ANSWER, dtype=np.int16)
    second = first.copy()
    for row, participant in enumerate(participants):
        for pair in readings.get(participant.pseudonym, []):
            first[row, place[pair.position]] = pair.first
            second[row, place[pair.position]] = pair.second
    n_configured = len(config_of(study).repeated_item_indices(len(positions)))
    return Repeats(n_configured=n_configured, columns=columns, first=first, second=second)


def report_inputs(study: Study, options: ReportOptions) -> ReportInputs:
    """Everything the study's report is made from, as ``options`` ask for it."""
    runs = model_runs_named(study, list(options.models)) if options.models else default_model_runs(study)
    store_keys = dict(study.items.values_list("sample__source_id", "sample__store_key"))
    preface = ReportPreface.objects.filter(study=study).values_list("text", flat=True).first() or ""
    return ReportInputs(
        answers=study_answers(study, runs),
        options=options,
        panels=CasePanels(store_keys=store_keys, display_percentiles=config_of(study).display_percentiles),
        preface=preface,
    )
