"""A web process (a gunicorn worker) loads the site without PyTorch: it only reads panels, and
torch would cost every worker hundreds of MiB and seconds to start."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# In a fresh interpreter: the test process itself has imported torch, which would hide the answer.
LOAD_THE_SITE = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
from config.wsgi import application
from django.urls import URLPattern, get_resolver

def views(resolver):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLPattern):
            view = pattern.callback  # imports the view's module where the URLs name it by path
            yield f"{view.__module__}.{view.__qualname__}"
        else:
            yield from views(pattern)

resolved = sorted(set(views(get_resolver())))
print(json.dumps({"views": resolved, "heavy": sorted(m for m in sys.modules if m.split(".")[0] == "torch")}))
"""


def test_the_wsgi_application_and_every_view_load_without_torch(tmp_path):
    environment = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_THE_SITE], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"annotator.views_panels.panel", "analysis.views.study_report", "config.views.home"} <= set(loaded["views"])
    assert loaded["heavy"] == []
