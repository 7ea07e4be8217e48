import pytest

from study.labels import CYTO13, HPA28, get_label_set


def test_the_papers_thirteen_classes_are_in_the_papers_order():
    assert CYTO13.names == [
        "Actin filaments", "Centrosome", "Cytosol", "Endoplasmic reticulum", "Golgi apparatus",
        "Intermediate filaments", "Microtubules", "Mitochondria", "Nuclear membrane", "Nucleoli",
        "Nucleus", "Plasma membrane", "Vesicles",
    ]


def test_the_kaggle_set_has_28_classes_with_unique_keys_and_colours():
    assert len(HPA28) == 28
    assert HPA28.by_index(0).name == "Nucleoplasm" and HPA28.by_index(27).name == "Rods & rings"
    for label_set in (CYTO13, HPA28):
        assert len({c.key for c in label_set.classes}) == len(label_set)
        assert all(c.colour.startswith("#") and len(c.colour) == 7 for c in label_set.classes)


def test_class_names_match_regardless_of_case_and_spacing():
    assert CYTO13.by_name("  endoplasmic   Reticulum ").index == 3
    assert CYTO13.by_name("er").index == 3


def test_an_unknown_label_set_names_the_known_ones():
    with pytest.raises(KeyError, match="cyto13, hpa28"):
        get_label_set("cyto12")
