import pytest


@pytest.fixture(autouse=True)
def isolated_data_dir(settings, tmp_path):
    """Every test gets its own data folder (store, panels, runs, reports)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.STORE_DIR = settings.DATA_DIR / "store"
    return settings.DATA_DIR


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Test users only: the production hasher's deliberate slowness would dominate the suite."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """Sign-in throttling counts failures in the cache; one test's failures must not lock out the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
