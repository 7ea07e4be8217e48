import pytest


@pytest.fixture(autouse=True)
def isolated_data_dir(settings, tmp_path):
    """Every test gets its own data folder (store, panels, runs, reports)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.STORE_DIR = settings.DATA_DIR / "store"
    return settings.DATA_DIR
