import pytest

from webhooks.tests.receiver import Receiver


@pytest.fixture
def receiver(settings):
    """A receiver on loopback, which endpoints may then use (WEBHOOKS_ALLOW_LOOPBACK): set `receiver.statuses`
    to script its answers."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    running = Receiver().start()
    yield running
    running.stop()
