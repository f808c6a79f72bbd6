"""`pytest --clock=WHEN` (conftest.py) runs a session, and every process its tests start, under one shifted clock:
what `make test-clock` relies on to prove that no test depends on the day it runs."""
import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clock_offset
from twinmcp.settings.test import TEST_CLOCK_OFFSET_VARIABLE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("clock_probe.py")
UTC = datetime.UTC


def fresh_session(*args: str) -> subprocess.CompletedProcess:
    """pytest on the probe alone, in a session of its own: not under the shift this run may itself be under."""
    env = {key: value for key, value in os.environ.items() if key != TEST_CLOCK_OFFSET_VARIABLE}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args, str(PROBE)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
class TestClockOption:
    def test_a_leap_day_reaches_the_session_and_the_processes_it_starts(self):
        result = fresh_session("--clock=2028-02-29T10:00:00+00:00")

        assert result.returncode == 0, result.stdout + result.stderr
        assert "clock: 2028-02-29 10:00:" in result.stdout
        assert "1 passed" in result.stdout

    def test_a_value_that_is_neither_an_instant_nor_a_shift_is_refused(self):
        result = fresh_session("--clock=next-tuesday")

        assert result.returncode == pytest.ExitCode.USAGE_ERROR
        assert "--clock=next-tuesday: give an ISO 8601 instant with its offset" in result.stderr


class TestClockOffset:
    NOW = datetime.datetime(2026, 12, 6, 10, 0, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("when", "days"),
        [("+365d", 365), ("-12h", -0.5), ("2028-02-29T10:00:00+00:00", 450), ("2028-02-29T11:00:00+01:00", 450)],
    )
    def test_an_instant_or_a_shift_is_the_offset_from_now(self, when, days):
        assert clock_offset(when, now=self.NOW) == datetime.timedelta(days=days).total_seconds()

    @pytest.mark.parametrize("when", ["2028-02-29T10:00:00", "365d", "+1y", "2028-02-30T10:00:00+00:00"])
    def test_an_instant_without_its_offset_or_another_unit_is_refused(self, when):
        with pytest.raises(pytest.UsageError, match=re.escape(f"--clock={when}: give an ISO 8601 instant")):
            clock_offset(when, now=self.NOW)
