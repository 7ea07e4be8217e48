"""Concurrent saves (two tabs, a double click, retries) never make a second answer."""

import threading

import pytest

from django.db import connection

from annotator.answers import save_answer, submit
from annotator.models import Answer, AnswerHistory, Participant
from tests.annotator.openings import opened_an_hour_ago
from tests.factories import reading_study



THREADS = 8


def run_at_once(work, arguments):
    """Run ``work(argument)`` in one thread per argument, released together; returns the errors."""
    barrier = threading.Barrier(len(arguments))
    errors = []

    def run(argument):
        try:
            barrier.wait()
            work(argument)
        except Exception as error:  # noqa: BLE001 - the test reports whatever a thread met
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def loaded(participant):
    """The participant with its study and label set, and its first case, read before the threads
    start: every query the threads make is then part of the save itself."""
    participant = Participant.objects.select_related("study__dataset").get(pk=participant.pk)
    return participant, participant.order()[0]


@pytest.mark.django_db(transaction=True)
def test_the_same_answer_saved_from_many_threads_at_once_is_stored_once(clock):
    # Every reading of the server's clock moves it on by a second, so that each save has a second of
    # its own to count: none of the threads' time may be lost.
    clock.step = 1.0
    reading = reading_study("race", test_samples=2, train_samples=0)
    opened_an_hour_ago(reading.participant)
    participant, item = loaded(reading.participant)

    def save(_):
        save_answer(participant, item, 5, 1.0)

    assert run_at_once(save, range(THREADS)) == []
    answer = Answer.objects.get()
    assert (answer.class_index, answer.changes, answer.active_seconds) == (5, 0, float(THREADS))
    assert AnswerHistory.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_different_classes_saved_at_once_leave_one_answer_and_a_history_row_per_change():
    reading = reading_study("race-change", test_samples=2, train_samples=0)
    participant, item = loaded(reading.participant)

    def save(class_index):
        save_answer(participant, item, class_index)

    classes = [i % 3 for i in range(THREADS)]
    assert run_at_once(save, classes) == []
    answer = Answer.objects.get()
    history = list(answer.history.values_list("class_index", flat=True))
    # Each history row is a real change of value, and the last one is the answer's value.
    assert all(a != b for a, b in zip(history, history[1:]))
    assert history[-1] == answer.class_index
    assert answer.changes == len(history) - 1


@pytest.mark.django_db(transaction=True)
def test_twelve_participants_submitting_at_once_all_get_in():
    """On SQLite a transaction that read first used to fail with "database is locked" when it wanted to
    write while another wrote; every transaction now takes the write lock when it begins, and waits."""
    reading = reading_study("submit-race", test_samples=2, train_samples=0)
    people = [
        Participant.objects.create(study=reading.study, cohort=reading.participant.cohort, pseudonym=f"p-{n:02d}", order_seed=n)
        for n in range(12)
    ]
    for person in people:
        save_answer(person, person.order()[0], 1)
    assert run_at_once(submit, people) == []
    assert Participant.objects.filter(pk__in=[p.pk for p in people], submitted_at__isnull=False).count() == 12
