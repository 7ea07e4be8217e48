import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_the_numerical_modules_and_the_report_computation_import_without_django():
    code = (
        "import sys\n"
        "import analysis, analysis.reader_metrics, analysis.ensembles, analysis.significance\n"
        "import analysis.agreement, analysis.intervals\n"
        "import analysis.report_inputs, analysis.report_content, analysis.report, analysis.report_tables\n"
        "import analysis.biases, analysis.report_readers\n"
        "assert 'django' not in sys.modules, 'django was imported'\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPOSITORY)

    assert completed.returncode == 0, completed.stderr
