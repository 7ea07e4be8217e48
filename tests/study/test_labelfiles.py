import pytest

from study.labelfiles import LabelFileError, read_label_file
from study.labels import CYTO13, HPA28


def test_it_reads_kaggle_id_target_rows_with_space_separated_indices(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("Id,Target\nabc,16 0\ndef,7\n")
    result = read_label_file(path, HPA28)
    assert result.labels == {"abc": (0, 16), "def": (7,)}
    assert result.format == "Id,Target"


def test_it_reads_lines_of_class_names(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("57_F11_1, Plasma membrane, Cytosol\n\nx2, Nucleoli\n")
    assert read_label_file(path, CYTO13).labels == {"57_F11_1": (2, 11), "x2": (9,)}


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes("\ufeffId,Target\na,1\n".encode("utf-8"))
    assert read_label_file(path, CYTO13).labels == {"a": (1,)}


@pytest.mark.parametrize(
    "content, line, fragment",
    [
        ("a, Nucleus\nb, Golgi body\n", 2, "unknown class 'Golgi body'"),
        ("Id,Target\na,3\nb,3 13\n", 3, "unknown class index '13'"),
        ("Id,Target\na,3\nb,x\n", 3, "unknown class index 'x'"),
        ("Id,Target\na,3\na,4\n", 3, "appears again (first on line 2)"),
        ("Id,Target\na\n", 2, "expected two columns"),
        ("a, Nucleus\nb\n", 2, "has no class"),
        ("Id,Target\n,3\n", 2, "the sample id is empty"),
    ],
)
def test_errors_name_the_file_the_line_and_the_value(tmp_path, content, line, fragment):
    path = tmp_path / "labels.csv"
    path.write_text(content)
    with pytest.raises(LabelFileError) as raised:
        read_label_file(path, CYTO13)
    message = str(raised.value)
    assert str(path) in message and f"line {line}" in message and fragment in message


def test_a_file_in_another_encoding_gets_a_clear_error(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes("a, Nucleus\nb, Zytosol \xfc\n".encode("latin-1"))
    with pytest.raises(LabelFileError, match=r"line 2: is not UTF-8 text"):
        read_label_file(path, CYTO13)


def test_an_empty_file_is_an_error(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("\n\n")
    with pytest.raises(LabelFileError, match="is empty"):
        read_label_file(path, CYTO13)
