from collections import Counter
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from study.models import Sample, Study, StudySample
from tests.factories import stored_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset():
    # 1,300 samples: every class, a third of them with two locations.
    classes = [[i % 13] if i % 3 else sorted({i % 13, (i + 5) % 13}) for i in range(1300)]
    dataset = stored_dataset("cells", classes)
    call_command("make_splits", "cells", "--seed", "0", stdout=StringIO())
    return dataset


def study_samples(name: str) -> list[Sample]:
    return [item.sample for item in StudySample.objects.filter(study__name=name).select_related("sample")]


def test_a_study_takes_single_location_samples_from_the_test_split_only(dataset):
    call_command("create_study", "pilot", "--dataset", "cells", "--size", "60", "--seed", "1", stdout=StringIO())
    samples = study_samples("pilot")
    assert len(samples) == 60 == len({s.pk for s in samples})
    assert all(s.split == "test" and len(s.class_indices) == 1 for s in samples)


def test_the_same_seed_chooses_the_same_samples_in_the_same_order(dataset):
    for name in ("a", "b"):
        call_command("create_study", name, "--dataset", "cells", "--size", "40", "--seed", "5", stdout=StringIO())
    call_command("create_study", "c", "--dataset", "cells", "--size", "40", "--seed", "6", stdout=StringIO())
    assert [s.pk for s in study_samples("a")] == [s.pk for s in study_samples("b")]
    assert [s.pk for s in study_samples("a")] != [s.pk for s in study_samples("c")]


def test_a_balanced_study_has_an_equal_share_of_every_class(dataset):
    call_command("create_study", "even", "--dataset", "cells", "--size", "52", "--seed", "1", "--balanced", stdout=StringIO())
    counts = Counter(s.class_indices[0] for s in study_samples("even"))
    assert counts == {c: 4 for c in range(13)}


def test_the_study_set_can_be_exported(dataset, tmp_path):
    path = tmp_path / "study.csv"
    call_command("create_study", "x", "--dataset", "cells", "--size", "10", "--seed", "1", "--export", str(path), stdout=StringIO())
    rows = path.read_text().splitlines()
    assert rows[0] == "position,id" and len(rows) == 11
    assert [row.split(",")[1] for row in rows[1:]] == [s.source_id for s in study_samples("x")]


def test_asking_for_more_samples_than_exist_is_a_clear_error(dataset):
    with pytest.raises(CommandError, match="only .* single-location test samples exist"):
        call_command("create_study", "x", "--dataset", "cells", "--size", "5000", "--seed", "1")
    assert not Study.objects.exists()


def test_a_data_set_without_a_split_cannot_make_a_study():
    stored_dataset("raw", [[1]] * 10)
    with pytest.raises(CommandError, match="no split yet: run make_splits first"):
        call_command("create_study", "x", "--dataset", "raw", "--size", "1", "--seed", "1")


def test_a_study_cannot_hold_a_training_sample(dataset):
    call_command("create_study", "x", "--dataset", "cells", "--size", "5", "--seed", "1", stdout=StringIO())
    study = Study.objects.get(name="x")
    training = Sample.objects.filter(dataset=dataset, split="train").first()
    with pytest.raises(ValidationError, match="test-split"):
        StudySample(study=study, sample=training, position=99).full_clean()


def test_a_study_cannot_hold_a_multi_location_sample(dataset):
    call_command("create_study", "x", "--dataset", "cells", "--size", "5", "--seed", "1", stdout=StringIO())
    study = Study.objects.get(name="x")
    multi = next(s for s in Sample.objects.filter(split="test") if len(s.class_indices) > 1)
    with pytest.raises(ValidationError, match="single-location"):
        StudySample(study=study, sample=multi, position=99).full_clean()


def test_study_names_are_unique(dataset):
    call_command("create_study", "x", "--dataset", "cells", "--size", "5", "--seed", "1", stdout=StringIO())
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_study", "x", "--dataset", "cells", "--size", "5", "--seed", "2")


def test_too_few_candidates_says_where_the_samples_went(dataset):
    with pytest.raises(CommandError) as raised:
        call_command("create_study", "x", "--dataset", "cells", "--size", "5000", "--seed", "1")
    several = sum(len(s.class_indices) > 1 for s in Sample.objects.prefetch_related("reference_labels"))
    message = str(raised.value)
    assert f"Of its 1300 samples, {several} have several locations" in message
    assert "by split" in message and " test, " in message and " train, " in message


def test_a_small_data_set_of_multi_location_samples_says_why_it_has_no_candidate():
    stored_dataset("multi", [[1, 2], [3, 4], [5, 6], [0, 7]])
    Sample.objects.update(split="test")
    with pytest.raises(CommandError, match=r"Of its 4 samples, 4 have several locations .* and 0 have one"):
        call_command("create_study", "x", "--dataset", "multi", "--size", "2", "--seed", "1")


def test_samples_with_quality_flags_can_be_left_out(dataset):
    flag = [{"channel": "yellow", "check": "misregistered", "value": 40.0, "threshold": 17.3}]
    flagged = Sample.objects.filter(split="test").order_by("source_id")[:20]
    Sample.objects.filter(pk__in=[s.pk for s in flagged]).update(quality_flags=flag)
    out = StringIO()
    call_command("create_study", "all", "--dataset", "cells", "--size", "60", "--seed", "1", stdout=out)
    call_command("create_study", "clean", "--dataset", "cells", "--size", "60", "--seed", "1", "--exclude-flagged",
                 stdout=StringIO())
    assert any(s.quality_flags for s in study_samples("all")) and "carry quality flags" in out.getvalue()
    assert not any(s.quality_flags for s in study_samples("clean"))
