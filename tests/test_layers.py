"""The packages form layers, and an import only ever points down a layer (the README's "Architecture").

Every import statement of every module is read from its syntax tree, the ones inside functions
too, so a new upward import fails here however it is written.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("config", "analysis", "annotator", "models_zoo", "study", "synthetic", "site_machinery")

# What each package may import of the project's packages, besides itself.
MAY_IMPORT = {
    "site_machinery": set(),
    "study": {"site_machinery"},
    "synthetic": {"study", "site_machinery"},
    "annotator": {"study", "site_machinery"},
    "models_zoo": {"study", "site_machinery"},
    "analysis": {"study", "annotator", "models_zoo", "site_machinery"},
    "config": {"study", "annotator", "models_zoo", "analysis", "synthetic", "site_machinery"},
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
    module.write_text("def f():\n    from analysis.reader_metrics import readers_metrics\n    import study.models\n")
    assert imported_packages(module) == {("analysis", 2), ("study", 3)}


def test_every_project_package_has_its_layer():
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks", "loadtest"}
    assert packages == set(MAY_IMPORT)


# The modules a web process loads: the settings, the WSGI entry, the URL configuration and every
# view, the installed apps' configurations, models and admin, the middleware and the authentication
# backend (site_machinery), and all of study and annotator.
WEB_ROOTS = (
    "config/settings.py", "config/wsgi.py", "config/urls.py", "config/views.py", "config/apps.py",
    "analysis/urls.py", "analysis/views.py", "analysis/apps.py",
    "models_zoo/apps.py", "models_zoo/models.py", "models_zoo/admin.py",
)
WEB_PACKAGES = ("site_machinery", "study", "annotator")
HEAVY = ("torch",)  # what a web process must never load: hundreds of MiB and seconds per worker


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def load_time_imports(path: Path) -> list[tuple[str, int]]:
    """The modules that importing ``path`` imports at once: its statements outside functions and
    outside ``if TYPE_CHECKING:``, class bodies included (they run on import)."""
    found: list[tuple[str, int]] = []

    def visit(statements):
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.extend((alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((node.module, node.lineno))
                # "from package import module" loads the module too
                found.extend((f"{node.module}.{alias.name}", node.lineno) for alias in node.names)
            for child in ("body", "orelse", "finalbody", "handlers"):
                visit(getattr(node, child, []))

    visit(ast.parse(path.read_text(), filename=str(path)).body)
    return found


def heavy_imports_of_web_modules() -> list[str]:
    """Every chain by which a web module comes to import a heavy package when it is loaded."""
    roots = [ROOT / root for root in WEB_ROOTS] + [
        path for package in WEB_PACKAGES for path in modules_of(package)
    ]
    chains = {module_name(path): module_name(path) for path in roots}
    queue = list(chains)
    problems = []
    while queue:
        name = queue.pop()
        path = module_path(name)
        if path is None:
            continue
        for imported, line in load_time_imports(path):
            top = imported.split(".")[0]
            if top in HEAVY:
                problems.append(f"{chains[name]} -> {path.relative_to(ROOT)}:{line} imports {imported}")
            elif top in PROJECT_PACKAGES:
                # A package's __init__ runs before any of its modules.
                parts = imported.split(".")
                for depth in range(1, len(parts) + 1):
                    prefix = ".".join(parts[:depth])
                    if prefix not in chains and module_path(prefix) is not None:
                        chains[prefix] = f"{chains[name]} -> {prefix}"
                        queue.append(prefix)
    return sorted(problems)


def test_no_web_module_loads_torch():
    assert heavy_imports_of_web_modules() == []


def test_the_torch_walk_follows_imports_through_other_modules(tmp_path, monkeypatch):
    (tmp_path / "study").mkdir()
    (tmp_path / "models_zoo").mkdir()
    (tmp_path / "study" / "views.py").write_text("from models_zoo import helpers\n\ndef f():\n    import numpy\n")
    (tmp_path / "models_zoo" / "helpers.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch.nn\n"
        "class Net:\n    import torch\n\ndef lazy():\n    import torch\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "WEB_ROOTS", ())
    monkeypatch.setattr(sys.modules[__name__], "WEB_PACKAGES", ("study",))
    chain = "study.views -> models_zoo.helpers -> models_zoo/helpers.py:5 imports torch"
    assert heavy_imports_of_web_modules() == [chain]
