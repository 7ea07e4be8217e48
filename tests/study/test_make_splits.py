from collections import Counter
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from study.models import Sample
from study.operations import create_study
from study.splits import stratified_split
from tests.factories import stored_dataset

pytestmark = pytest.mark.django_db


def multi_label_classes(n: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        first = int(rng.choice(13, p=np.linspace(1, 3, 13) / np.linspace(1, 3, 13).sum()))
        rows.append(sorted({first, int(rng.integers(13))}) if rng.random() < 0.5 else [first])
    return rows


def splits_of(dataset) -> dict[str, str]:
    return dict(dataset.samples.values_list("source_id", "split"))


def test_the_same_seed_gives_the_same_split_and_another_seed_another(tmp_path):
    dataset = stored_dataset("d", multi_label_classes(300))
    call_command("make_splits", "d", "--seed", "7", stdout=StringIO())
    first = splits_of(dataset)
    call_command("make_splits", "d", "--seed", "7", stdout=StringIO())
    assert splits_of(dataset) == first
    call_command("make_splits", "d", "--seed", "8", stdout=StringIO())
    assert splits_of(dataset) != first


def test_the_split_follows_the_ratios_for_every_class():
    labels = np.zeros((2000, 13), bool)
    for i, classes in enumerate(multi_label_classes(2000, seed=3)):
        labels[i, classes] = True
    assignment = stratified_split(labels, (0.8, 0.1, 0.1), seed=1)
    assert np.allclose(np.bincount(assignment) / 2000, [0.8, 0.1, 0.1], atol=0.01)
    for split, ratio in enumerate((0.8, 0.1, 0.1)):
        per_class = labels[assignment == split].sum(axis=0) / labels.sum(axis=0)
        assert np.allclose(per_class, ratio, atol=0.02)


def test_export_and_from_round_trip_the_split(tmp_path):
    dataset = stored_dataset("d", multi_label_classes(100))
    exported = tmp_path / "split.csv"
    call_command("make_splits", "d", "--seed", "1", "--ratios", "0.6", "0.2", "0.2", "--export", str(exported), stdout=StringIO())
    published = splits_of(dataset)
    assert exported.read_text().splitlines()[0] == "id,split"
    Sample.objects.update(split="")
    out = StringIO()
    call_command("make_splits", "d", "--from", str(exported), stdout=out)
    assert splits_of(dataset) == published
    assert Counter(published.values()) == {"train": 60, "val": 20, "test": 20}
    assert "train 60, val 20, test 20" in out.getvalue()


def test_a_split_file_missing_samples_is_refused_whole(tmp_path):
    dataset = stored_dataset("d", [[1], [2], [3]])
    path = tmp_path / "split.csv"
    path.write_text("id,split\ns00000,train\ns00001,test\n")
    with pytest.raises(CommandError, match="1 samples of 'd' are not in the file"):
        call_command("make_splits", "d", "--from", str(path))
    assert set(splits_of(dataset).values()) == {""}


def test_a_split_file_with_a_bad_split_name_names_the_line(tmp_path):
    stored_dataset("d", [[1], [2]])
    path = tmp_path / "split.csv"
    path.write_text("id,split\ns00000,train\ns00001,testing\n")
    with pytest.raises(CommandError, match=r"line 3: split 'testing' is not one of train, val, test"):
        call_command("make_splits", "d", "--from", str(path))


def test_ids_the_data_set_lacks_are_tolerated_in_a_published_split(tmp_path):
    dataset = stored_dataset("d", [[1], [2]])
    path = tmp_path / "split.csv"
    path.write_text("id,split\ns00000,train\ns00001,test\ncorrupt-here,val\n")
    call_command("make_splits", "d", "--from", str(path), stdout=StringIO())
    assert splits_of(dataset) == {"s00000": "train", "s00001": "test"}


def test_the_split_cannot_change_under_a_study(tmp_path):
    dataset = stored_dataset("d", [[i % 13] for i in range(200)])
    call_command("make_splits", "d", "--seed", "1", stdout=StringIO())
    create_study("s", dataset, size=5, seed=0, balanced=False)
    with pytest.raises(CommandError, match="has studies"):
        call_command("make_splits", "d", "--seed", "2")


def test_ratios_that_do_not_add_up_are_refused():
    stored_dataset("d", [[1], [2]])
    with pytest.raises(CommandError, match="add up to 1"):
        call_command("make_splits", "d", "--seed", "1", "--ratios", "0.8", "0.1", "0.2")


def test_an_unknown_data_set_names_the_known_ones():
    stored_dataset("cells", [[1]])
    with pytest.raises(CommandError, match=r"no data set named 'cels' \(known: cells\)"):
        call_command("make_splits", "cels", "--seed", "1")


def test_an_exported_split_neutralises_formula_ids_and_reads_back_as_it_was(tmp_path):
    stored_dataset("formulas", [[i % 13] for i in range(30)])
    Sample.objects.filter(source_id=Sample.objects.order_by("source_id").first().source_id).update(
        source_id="=HYPERLINK(\"http://x\")"
    )
    path = tmp_path / "split.csv"
    call_command("make_splits", "formulas", "--seed", "0", "--export", str(path), stdout=StringIO())
    assert "'=HYPERLINK" in path.read_text()
    before = dict(Sample.objects.values_list("source_id", "split"))
    Sample.objects.update(split="")
    call_command("make_splits", "formulas", "--from", str(path), stdout=StringIO())
    assert dict(Sample.objects.values_list("source_id", "split")) == before
