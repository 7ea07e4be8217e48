import io

import pytest

from django.core.management import CommandError, call_command

from models_zoo.models import ModelRun, Prediction
from study.labels import CYTO13
from tests.factories import stored_dataset
from study.models import Study, StudySample


@pytest.fixture
def study(db):
    dataset = stored_dataset("imports", [[i % 13] for i in range(4)])
    dataset.samples.update(split="test")
    study = Study.objects.create(name="imports-study", dataset=dataset, seed=0)
    StudySample.objects.bulk_create(StudySample(study=study, sample=s, position=i) for i, s in enumerate(dataset.samples.order_by("source_id")))
    return study


def run_import(path, name="elsewhere"):
    call_command("import_predictions", "imports-study", "--file", str(path), "--name", name, stdout=io.StringIO())


def test_it_imports_a_class_column_by_index_or_name(study, tmp_path):
    path = tmp_path / "classes.csv"
    path.write_text("sample,class\ns00000,0\ns00001,Centrosome\ns00002, cytosol \n")

    run_import(path)

    run = ModelRun.objects.get(name="elsewhere")
    assert run.kind == ModelRun.Kind.IMPORTED and run.single_class and run.dataset == study.dataset
    stored = {p.sample.source_id: (p.classes, p.probabilities) for p in run.predictions.select_related("sample")}
    assert stored == {"s00000": ([0], None), "s00001": ([1], None), "s00002": ([2], None)}


def test_it_imports_one_probability_column_per_class_in_any_order(study, tmp_path):
    names = list(reversed(CYTO13.names))
    row = [0.0] * 13
    row[0] = 0.9  # the first column is Vesicles (class 12)
    row[12] = 0.1
    path = tmp_path / "probabilities.csv"
    path.write_text("sample," + ",".join(names) + "\n" + "s00003," + ",".join(map(str, row)) + "\n")

    run_import(path)

    prediction = Prediction.objects.get(run__name="elsewhere")
    assert prediction.probabilities[12] == pytest.approx(0.9)
    assert prediction.probabilities[0] == pytest.approx(0.1)
    assert prediction.classes == [12]


def test_multi_label_probabilities_predict_every_class_above_one_half(study, tmp_path):
    row = ["0.1"] * 13
    row[2], row[3] = "0.8", "0.6"
    path = tmp_path / "sigmoid.csv"
    path.write_text("sample," + ",".join(CYTO13.names) + "\ns00000," + ",".join(row) + "\n")

    run_import(path)

    run = ModelRun.objects.get(name="elsewhere")
    assert not run.single_class
    assert run.predictions.get().classes == [2, 3]


@pytest.mark.parametrize(
    "content, message",
    [
        ("sample,class\ns00000,0\ns00001,Golgi aparatus\n", r"line 3, column class: 'Golgi aparatus' is not a class"),
        ("sample,class\ns00000,0\nnope,1\n", r"line 3, column sample: 'nope' is not a sample of data set imports"),
        ("sample,class\ns00000,0\ns00000,1\n", r"line 3, column sample: 's00000' was already given on line 2"),
        ("sample,class\ns00000,13\n", r"line 2, column class: class index 13 is not in 0-12"),
        ("sample,class\ns00000,1,2\n", r"line 2: has 3 columns, the header has 2"),
        ("id,class\ns00000,1\n", r"line 1, column 1: expected 'sample'"),
        ("sample,Cytosol,Nucleus\ns00000,0.1,0.9\n", r"line 1: no probability column for Actin filaments"),
        ("sample,Cytosol,Wrong\n", r"line 1, column 'Wrong': not a class"),
        ("", r"is empty"),
    ],
)
def test_a_bad_file_is_refused_naming_its_line_and_column_and_nothing_is_stored(study, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)

    with pytest.raises(CommandError, match=message):
        run_import(path)
    assert not ModelRun.objects.filter(name="elsewhere").exists()
    assert not Prediction.objects.exists()


def test_a_probability_that_is_not_a_number_is_refused_with_its_column(study, tmp_path):
    row = ["0.1"] * 13
    row[4] = "high"
    path = tmp_path / "bad.csv"
    path.write_text("sample," + ",".join(CYTO13.names) + "\ns00000," + ",".join(row) + "\n")

    with pytest.raises(CommandError, match=r"line 2, column Golgi apparatus: 'high' is not a number"):
        run_import(path)
    assert not ModelRun.objects.exists()


def test_an_existing_run_name_and_a_file_that_is_not_utf8_are_refused(study, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("sample,class\ns00000,0\n")
    run_import(good)
    with pytest.raises(CommandError, match="already exists"):
        run_import(good)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("sample,class\ns00000,Zytosol\xe9\n".encode("latin-1"))
    with pytest.raises(CommandError, match="is not UTF-8"):
        run_import(latin, name="other")


def test_the_report_can_use_an_imported_run_as_the_model(study, tmp_path):
    from annotator.models import Answer, Cohort, Participant

    path = tmp_path / "classes.csv"
    path.write_text("sample,class\n" + "".join(f"s{i:05d},{i % 13}\n" for i in range(4)))
    run_import(path)
    cohort = Cohort.objects.create(study=study, name="expert")
    reader = Participant.objects.create(study=study, cohort=cohort, pseudonym="expert-01", order_seed=1)
    Answer.objects.bulk_create(
        Answer(participant=reader, item=item, class_index=0, display_percentiles={}) for item in study.items.all()
    )

    call_command("report", "imports-study", "--out", str(tmp_path / "out"), "--model", "elsewhere", "--repetitions", "5", stdout=io.StringIO())

    table3 = (tmp_path / "out" / "table3.csv").read_text().splitlines()
    assert table3[1].startswith("expert-01,expert,false,1,3,0,0,")
