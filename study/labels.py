"""Label sets: the only place where class names live.

A data set has exactly one label set. Everything downstream refers to classes by their index in
the set (the order is part of the contract: a model's output unit ``i`` is class ``i``), and shows
them by ``name``; ``key`` is a short identifier safe for file names and hotkeys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabelClass:
    index: int
    key: str
    name: str
    colour: str


@dataclass(frozen=True)
class LabelSet:
    key: str
    title: str
    classes: tuple[LabelClass, ...]

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def by_name(self, name: str) -> LabelClass:
        """The class whose name (or key) matches ``name``, ignoring case and surrounding space."""
        wanted = " ".join(name.split()).casefold()
        for label_class in self.classes:
            if wanted in (label_class.name.casefold(), label_class.key.casefold()):
                return label_class
        raise KeyError(name)

    def by_index(self, index: int) -> LabelClass:
        if not 0 <= index < len(self.classes):
            raise KeyError(index)
        return self.classes[index]


def _label_set(key: str, title: str, entries: list[tuple[str, str, str]]) -> LabelSet:
    return LabelSet(
        key=key,
        title=title,
        classes=tuple(LabelClass(i, k, name, colour) for i, (k, name, colour) in enumerate(entries)),
    )


# The 13 classes of the Cyto Challenge 2017 data, in the order of the paper and of GapNet-PL's
# released output layer.
CYTO13 = _label_set(
    "cyto13",
    "Cyto Challenge 2017 (13 classes, the paper's)",
    [
        ("actin", "Actin filaments", "#e6194b"),
        ("centrosome", "Centrosome", "#3cb44b"),
        ("cytosol", "Cytosol", "#ffe119"),
        ("er", "Endoplasmic reticulum", "#4363d8"),
        ("golgi", "Golgi apparatus", "#f58231"),
        ("intermediate", "Intermediate filaments", "#911eb4"),
        ("microtubules", "Microtubules", "#46f0f0"),
        ("mitochondria", "Mitochondria", "#f032e6"),
        ("nuclear-membrane", "Nuclear membrane", "#bcf60c"),
        ("nucleoli", "Nucleoli", "#008080"),
        ("nucleus", "Nucleus", "#9a6324"),
        ("plasma-membrane", "Plasma membrane", "#800000"),
        ("vesicles", "Vesicles", "#000075"),
    ],
)

# The 28 classes of the public Kaggle "Human Protein Atlas Image Classification" data, in its
# index order (its Target column).
HPA28 = _label_set(
    "hpa28",
    "Kaggle Human Protein Atlas (28 classes)",
    [
        ("nucleoplasm", "Nucleoplasm", "#9a6324"),
        ("nuclear-membrane", "Nuclear membrane", "#bcf60c"),
        ("nucleoli", "Nucleoli", "#008080"),
        ("nucleoli-fc", "Nucleoli fibrillar center", "#2f9e9e"),
        ("speckles", "Nuclear speckles", "#6b4f1d"),
        ("nuclear-bodies", "Nuclear bodies", "#c49a5c"),
        ("er", "Endoplasmic reticulum", "#4363d8"),
        ("golgi", "Golgi apparatus", "#f58231"),
        ("peroxisomes", "Peroxisomes", "#ffd8b1"),
        ("endosomes", "Endosomes", "#000075"),
        ("lysosomes", "Lysosomes", "#3d3d9e"),
        ("intermediate", "Intermediate filaments", "#911eb4"),
        ("actin", "Actin filaments", "#e6194b"),
        ("focal-adhesion", "Focal adhesion sites", "#fabebe"),
        ("microtubules", "Microtubules", "#46f0f0"),
        ("microtubule-ends", "Microtubule ends", "#1f9c9c"),
        ("cytokinetic-bridge", "Cytokinetic bridge", "#aaffc3"),
        ("mitotic-spindle", "Mitotic spindle", "#7fd4d4"),
        ("mtoc", "Microtubule organizing center", "#2e8b57"),
        ("centrosome", "Centrosome", "#3cb44b"),
        ("lipid-droplets", "Lipid droplets", "#fffac8"),
        ("plasma-membrane", "Plasma membrane", "#800000"),
        ("cell-junctions", "Cell junctions", "#a05050"),
        ("mitochondria", "Mitochondria", "#f032e6"),
        ("aggresome", "Aggresome", "#808000"),
        ("cytosol", "Cytosol", "#ffe119"),
        ("cytoplasmic-bodies", "Cytoplasmic bodies", "#d2b000"),
        ("rods-rings", "Rods & rings", "#808080"),
    ],
)

LABEL_SETS: dict[str, LabelSet] = {s.key: s for s in (CYTO13, HPA28)}


def get_label_set(key: str) -> LabelSet:
    try:
        return LABEL_SETS[key]
    except KeyError:
        raise KeyError(f"unknown label set {key!r}; choose one of: {', '.join(LABEL_SETS)}") from None


# A folder of samples may name the label set of its labels by the set's key alone in this file (the
# synthetic generator writes one), so that class indices need no --label-set.
LABEL_SET_FILE = "label_set.txt"


def label_set_of_folder(folder: Path) -> LabelSet | None:
    """The label set that ``folder``'s ``label_set.txt`` names, or None when there is none."""
    path = Path(folder) / LABEL_SET_FILE
    try:
        key = path.read_text(encoding="utf-8-sig").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read it ({error}); it should hold a label set's key, e.g. cyto13") from None
    if key not in LABEL_SETS:
        raise ValueError(f"{path}: {key[:40]!r} is no label set; it should hold one of {', '.join(LABEL_SETS)} alone")
    return LABEL_SETS[key]
