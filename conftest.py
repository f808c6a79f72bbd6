import datetime
import os
import re
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import translation

from accounts.tests.factories import make_customer
from twinmcp.settings.test import TEST_CLOCK_OFFSET_VARIABLE, clock_shift

PROJECT_ROOT = Path(__file__).resolve().parent
# Fixtures every app's tests use: the webhook receiver on loopback.
pytest_plugins = ["webhooks.tests.receiver"]
DOCS = PROJECT_ROOT / "docs"
TEST_ARTIFACTS = PROJECT_ROOT / ".test-artifacts"
CLOCK_SHIFT = re.compile(r"^([+-])(\d+)([dh])$")
CLOCK_SHIFT_UNITS = {"d": "days", "h": "hours"}


def pytest_addoption(parser):
    group = parser.getgroup("twinmcp")
    group.addoption(
        "--clock", metavar="WHEN",
        help="run the session, and every process its tests start, under a clock set to WHEN and ticking on: an "
             "ISO 8601 instant with its offset (2028-02-29T10:00:00+00:00) or a shift from now in days or hours "
             "(+365d, -12h). `make test-clock` runs the suite a year ahead, then on a leap day.",
    )
    group.addoption(
        "--update-docs-screenshots", action="store_true",
        help="browser tests save their screenshots into docs/, which README shows, instead of .test-artifacts/",
    )


def clock_offset(when: str, *, now: datetime.datetime) -> float:
    """The seconds between `now` and the clock that --clock asks for."""
    if shift := CLOCK_SHIFT.match(when):
        sign, count, unit = shift.groups()
        seconds = datetime.timedelta(**{CLOCK_SHIFT_UNITS[unit]: int(count)}).total_seconds()
        return -seconds if sign == "-" else seconds
    try:
        instant = datetime.datetime.fromisoformat(when)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise pytest.UsageError(
            f"--clock={when}: give an ISO 8601 instant with its offset (2028-02-29T10:00:00+00:00) or a shift "
            "such as +365d or -12h"
        )
    return (instant - now).total_seconds()


def pytest_configure(config):
    when = config.getoption("clock")
    # A process that inherited the variable (an xdist worker) had its clock shifted when it imported the settings.
    if when and not os.environ.get(TEST_CLOCK_OFFSET_VARIABLE):
        offset = clock_offset(when, now=datetime.datetime.now(datetime.UTC))
        os.environ[TEST_CLOCK_OFFSET_VARIABLE] = str(offset)
        clock_shift(offset)


def pytest_report_header(config):
    if os.environ.get(TEST_CLOCK_OFFSET_VARIABLE):
        return f"clock: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC (shifted, --clock)"
    return None


@pytest.fixture
def screenshot_path(request):
    """Where a browser test saves the screenshot `name`: .test-artifacts/screenshots/ (untracked), or docs/ when
    the run was asked to refresh README's pictures with --update-docs-screenshots."""
    folder = DOCS if request.config.getoption("update_docs_screenshots") else TEST_ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return lambda name: folder / name


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Django empties every table by TRUNCATE after each transactional test: the test database lets it through
    the audit tables' TRUNCATE guard, which accounts/tests/test_audit.py turns back on to test it."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        for table in ("accounts_auditlog", "accounts_auditchainhead"):
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_truncate_refused")


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with an empty cache (only this run's keys: the prefix is per run)."""
    cache.delete_pattern("*")
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request of an earlier test activated its customer's language in
    this thread (LocaleMiddleware and ProfileLanguageMiddleware set it per request and leave it set)."""
    translation.deactivate()
    yield


# Arrangement that the tests of several apps (accounts, libraries, billing and tests/) share.


@pytest.fixture
def media(settings, tmp_path):
    """Files the test writes (invoice PDFs, exports) go to a folder of its own, removed after the run."""
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def customer():
    """Ada Lovelace of Analytical SAS, a French business customer with a billing profile in English: she logs in
    as ada@example.com with the factories' password, "correct-horse-battery"."""
    return make_customer(user__email="ada@example.com", full_name="Ada Lovelace", company_name="Analytical SAS")


@pytest.fixture
def logged_in(client, customer):
    """The test client with `customer` logged in."""
    client.force_login(customer)
    return client
