import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_the_numerical_modules_import_without_django():
    code = (
        "import sys\n"
        "import analysis, analysis.metrics, analysis.ensembles, analysis.significance\n"
        "import analysis.agreement, analysis.intervals\n"
        "assert 'django' not in sys.modules, 'django was imported'\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPOSITORY)

    assert completed.returncode == 0, completed.stderr
