"""Class names as data sets spell them, resolved onto a label set's classes.

The Human Protein Atlas names its locations in its own words, and its vocabulary changed over the
years (the field 57_F11_1 is annotated "Plasma membrane, Cytoplasm" in the older one; the newer
data uses 19 classes, the Kaggle 2018 data 28). A name is resolved, in this order:

1. by the user's mapping file (``import_dataset --map FILE``), which may also drop a name;
2. as a class of the label set, by its name or key (case and spacing ignored);
3. by the built-in aliases onto the paper's 13 classes (``CYTO13_ALIASES``), which hold only the
   names whose meaning in those 13 classes is unambiguous: a sub-compartment maps onto the class
   that contains it in the HPA's own hierarchy (Cell Atlas, "subcellular location" tree);
4. otherwise it is an error that names the file, line and value and the nearest known names.

Names left out on purpose, because they have no single home among the 13 classes: Nuclear bodies,
Nuclear speckles, Cytokinetic bridge, Midbody, Mitotic spindle, Mitotic chromosome, Aggresome,
Cytoplasmic bodies, Rods & rings. Map them with ``--map`` (to a class, or to ``drop``).
"""

from __future__ import annotations

import csv
import difflib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from study.labels import CYTO13, LabelSet

DROP = "drop"

# HPA and Kaggle names -> the paper's class, where the 13-class meaning is unambiguous.
CYTO13_ALIASES = {
    "cytoplasm": "Cytosol",
    "cytoplasmic": "Cytosol",
    "nucleoplasm": "Nucleus",
    "nucleus but not nucleoli": "Nucleus",
    "nuclei": "Nucleus",
    "nucleolus": "Nucleoli",
    "nucleoli fibrillar center": "Nucleoli",
    "nucleoli rim": "Nucleoli",
    "nuclear envelope": "Nuclear membrane",
    "mitochondrion": "Mitochondria",
    "golgi": "Golgi apparatus",
    "er": "Endoplasmic reticulum",
    "microtubule organizing center": "Centrosome",
    "mtoc": "Centrosome",
    "centriolar satellite": "Centrosome",
    "cell junctions": "Plasma membrane",
    "focal adhesion sites": "Actin filaments",
    "cytoskeleton (actin filaments)": "Actin filaments",
    "cytoskeleton (intermediate filaments)": "Intermediate filaments",
    "cytoskeleton (microtubules)": "Microtubules",
    "cytoskeleton (microtubule end)": "Microtubules",
    "microtubule ends": "Microtubules",
    "endosomes": "Vesicles",
    "lysosomes": "Vesicles",
    "peroxisomes": "Vesicles",
    "lipid droplets": "Vesicles",
}
BUILT_IN_ALIASES = {CYTO13.key: CYTO13_ALIASES}


class UnknownClassName(KeyError):
    """A name that resolves to no class; ``message`` says which names are nearest."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def normalized(name: str) -> str:
    return " ".join(name.split()).casefold()


def read_class_map(path: Path, label_set: LabelSet) -> dict[str, int | None]:
    """A ``--map`` file: ``source,class`` rows (an optional header ``source,class``), where class is a
    class of ``label_set`` or ``drop``. Errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read the mapping file ({error})") from None
    mapping: dict[str, int | None] = {}
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or (line == 1 and [normalized(c) for c in cells[:2]] == ["source", "class"]):
            continue
        if len(cells) != 2 or not all(cells):
            raise ValueError(f"{path}, line {line}: expected two columns, source name and class (or drop)")
        source, target = cells
        if normalized(source) in mapping:
            raise ValueError(f"{path}, line {line}: {source!r} is mapped twice")
        if normalized(target) == DROP:
            mapping[normalized(source)] = None
            continue
        try:
            mapping[normalized(source)] = label_set.by_name(target).index
        except KeyError:
            raise ValueError(
                f"{path}, line {line}: {target!r} is not a class of {label_set.key} "
                f"({nearest(target, label_set.names)}), nor 'drop'"
            ) from None
    return mapping


def nearest(name: str, candidates: list[str]) -> str:
    """The up to three candidates most like ``name``, most alike first, for an error message."""
    by_key = {normalized(candidate): candidate for candidate in candidates}
    close = difflib.get_close_matches(normalized(name), list(by_key), n=3, cutoff=0.5)
    return f"nearest: {', '.join(by_key[key] for key in close)}" if close else f"known: {', '.join(candidates)}"


@dataclass
class ClassResolver:
    """Resolves names onto ``label_set`` and counts every mapping it applied (name -> class or drop)."""

    label_set: LabelSet
    user_map: dict[str, int | None] = field(default_factory=dict)
    applied: Counter = field(default_factory=Counter)

    def resolve(self, name: str) -> int | None:
        """The class index of ``name``, or None where the user's mapping drops it."""
        key = normalized(name)
        if key in self.user_map:
            target = self.user_map[key]
            self.applied[(name.strip(), DROP if target is None else self.label_set.classes[target].name)] += 1
            return target
        try:
            return self.label_set.by_name(name).index
        except KeyError:
            pass
        aliases = BUILT_IN_ALIASES.get(self.label_set.key, {})
        if key in aliases:
            target_class = self.label_set.by_name(aliases[key])
            self.applied[(name.strip(), target_class.name)] += 1
            return target_class.index
        known = self.label_set.names + sorted({alias.capitalize() for alias in aliases})
        raise UnknownClassName(
            f"unknown class {name.strip()!r} ({nearest(name, known)}); map it with --map FILE "
            f"(lines 'source,class' or 'source,drop')"
        )
