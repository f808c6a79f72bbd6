import datetime

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.services import sessions_purge
from libraries.models import UsageLog
from libraries.services import usage_logs_purge
from libraries.tests.factories import UsageLogFactory

NOW = datetime.datetime(2026, 11, 24, 3, 30, tzinfo=datetime.UTC)


@pytest.mark.django_db
class TestUsageRetention:
    def test_logs_older_than_the_retention_go_and_the_rest_stay(self, settings):
        settings.USAGE_RETENTION_DAYS = 400
        old = UsageLogFactory(created_at=NOW - datetime.timedelta(days=401))
        UsageLogFactory(created_at=NOW - datetime.timedelta(days=400, seconds=1))
        kept = UsageLogFactory(created_at=NOW - datetime.timedelta(days=399))

        purged = usage_logs_purge(now=NOW)

        assert purged == 2
        assert list(UsageLog.objects.values_list("pk", flat=True)) == [kept.pk]
        assert not UsageLog.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
def test_expired_sessions_are_purged():
    live, expired = SessionStore(), SessionStore()
    live.create()
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=timezone.now() - datetime.timedelta(1))

    assert sessions_purge() == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]


@pytest.mark.django_db
def test_the_purges_are_scheduled_daily():
    names = ["Usage log retention", "Expired sessions"]
    tasks = {task.name: task for task in PeriodicTask.objects.filter(name__in=names)}

    assert tasks["Usage log retention"].task == "libraries.tasks.usage_logs_purge_task"
    assert tasks["Expired sessions"].task == "accounts.tasks.sessions_purge_task"
    assert all(task.crontab.day_of_month == "*" and task.enabled for task in tasks.values())
