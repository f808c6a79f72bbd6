"""Run by test_clock.py in a session of its own under `--clock=2028-02-29T10:00:00+00:00` (its name keeps it out
of the suite): the session's clock and that of a `manage.py` process it starts both read the leap day."""
import datetime
import os

from django.utils import timezone

from billing import clock
from tests.helpers import run_manage

LEAP_DAY = datetime.date(2028, 2, 29)


def test_the_session_and_a_process_it_starts_read_the_leap_day():
    child = run_manage(
        "shell", "--no-imports", "-c", "from billing import clock; print(clock.now().isoformat())", env=dict(os.environ)
    )

    assert (timezone.now().date(), clock.today()) == (LEAP_DAY, LEAP_DAY)
    assert child.returncode == 0, child.stderr
    child_now = datetime.datetime.fromisoformat(child.stdout.strip())
    assert child_now.date() == LEAP_DAY
    assert abs(child_now - timezone.now()) < datetime.timedelta(minutes=5)  # one clock, ticking in both
