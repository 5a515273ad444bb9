import pytest
from helpers.versioned_store import VersionedStore


@pytest.fixture
def store() -> VersionedStore:
    return VersionedStore()
