import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with an empty cache (only this run's keys: the prefix is per run)."""
    cache.delete_pattern("*")
    yield
