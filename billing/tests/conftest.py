"""Arrangement shared by billing's tests (the root conftest.py has the customer, `logged_in` and `media`)."""
import pytest
import redis.client

from billing.tests.admin_world import finance_user
from billing.tests.localstripe import localstripe, stripe_settings  # noqa: F401 (fixtures: a localstripe process)
from libraries.tests.factories import DocumentationChunkFactory, LibraryVersionFactory


@pytest.fixture
def library_version():
    """The latest version of acme/widgets, one 1,200-token chunk of documentation: what a metered call serves."""
    version = LibraryVersionFactory(library__slug="acme/widgets", version="1.0.0", is_latest=True)
    DocumentationChunkFactory(version=version, title="Guide", content="All about widgets.", tokens=1200)
    return version


@pytest.fixture
def finance(db):
    """Claire of the Finance group: staff with exactly finance's permissions."""
    return finance_user()


@pytest.fixture
def finance_client(client, finance):
    """The test client with `finance` logged in to the admin."""
    client.force_login(finance)
    return client


@pytest.fixture
def redis_commands(monkeypatch):
    """The commands sent to Redis, one per round trip (a pipeline counts once)."""
    sent = []
    execute_command, execute_pipeline = redis.client.Redis.execute_command, redis.client.Pipeline.execute

    def command(self, *args, **options):
        sent.append(args[0])
        return execute_command(self, *args, **options)

    def pipeline(self, *args, **kwargs):
        sent.append("PIPELINE")
        return execute_pipeline(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Redis, "execute_command", command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline)
    return sent
