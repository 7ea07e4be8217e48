"""The packages form layers, and an import only ever points down a layer (the README's "Architecture").

Every import statement of every module is read from its syntax tree, the ones inside functions
too, so a new upward import fails here however it is written.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("config", "analysis", "annotator", "models_zoo", "study", "synthetic")

# What each package may import of the project's packages, besides itself.
MAY_IMPORT = {
    "study": set(),
    "synthetic": {"study"},
    "annotator": {"study"},
    "models_zoo": {"study"},
    "analysis": {"study", "annotator", "models_zoo"},
    "config": {"study", "annotator", "models_zoo", "analysis", "synthetic"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """The project packages that the module at ``path`` imports, with the line of each import."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {(name.split(".")[0], node.lineno) for name in names if name.split(".")[0] in PROJECT_PACKAGES}
    return found


def modules_of(package: str) -> list[Path]:
    return sorted(path for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts)


def upward_imports(package: str) -> list[str]:
    allowed = MAY_IMPORT[package] | {package}
    return [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for path in modules_of(package)
        for imported, line in sorted(imported_packages(path))
        if imported not in allowed
    ]


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_no_import_points_up_a_layer(package):
    assert upward_imports(package) == []


def test_the_layer_walk_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("def f():\n    from analysis.metrics import readers_metrics\n    import study.models\n")
    assert imported_packages(module) == {("analysis", 2), ("study", 3)}


def test_every_project_package_has_its_layer():
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks", "loadtest"}
    assert packages == set(MAY_IMPORT)
