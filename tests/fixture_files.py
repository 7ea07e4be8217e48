"""The fixed data the tests load: ``fixtures/`` beside ``tests/`` (its README gives each file's source
and licence), and the demo study's configuration, which ships inside the package."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"

# One real Human Protein Atlas field of view (CC BY-SA 3.0).
REAL_HPA_FIELD = FIXTURES / "real-hpa" / "57_F11_1"
# The authors' logits of the released GapNet-PL weights for numpy.random.RandomState(0) inputs.
RELEASED_TEST_VECTOR = FIXTURES / "released-gapnet" / "logits_randomstate0.npy"
# The Van Dyke MRMC data set and its binary-sensitivity derivative (GPL-3).
VAN_DYKE = FIXTURES / "mrmc" / "VanDyke.imrmc"
VAN_DYKE_BINARY = FIXTURES / "mrmc" / "VanDyke_binary_sensitivity.imrmc"

DEMO_CONFIGURATION = ROOT / "config" / "fixtures" / "demo_study.json"


def demo_class_descriptions() -> dict[int, str]:
    """Each of the paper's 13 classes' look, as the demo study's gallery describes it."""
    (config,) = json.loads(DEMO_CONFIGURATION.read_text())
    return {int(index): text for index, text in config["fields"]["class_descriptions"].items()}
