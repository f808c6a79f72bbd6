"""Work for the workers is sent once the transaction commits, and never after a rollback.

That nothing is sent before the commit is asserted for emails in test_emails
(`test_nothing_is_sent_before_the_transaction_commits`).
"""
import datetime

import pytest
from celery.exceptions import NotRegistered
from django.core import mail
from django.db import transaction

from accounts.tests.factories import UserProfileFactory
from billing.models import EmailKind, EmailNotification
from billing.notifications.emails import email_queue
from core.enqueue import enqueue_after_commit

DELIVER = "billing.tasks.emails.email_deliver_task"


class RolledBack(Exception):
    pass


def recorded_email() -> EmailNotification:
    """An email whose own delivery never runs: the test transaction does not commit."""
    user = UserProfileFactory(language="en", billing_email="accounts@acme.example").user
    return email_queue(kind=EmailKind.SUBSCRIPTION_EXPIRING, key="expiring:1", user=user,
                       context={"plan_name": "Pro", "end_date": datetime.date(2026, 11, 1)})


@pytest.mark.django_db
class TestEnqueueAfterCommit:
    def test_the_task_runs_once_the_transaction_commits(self, django_capture_on_commit_callbacks):
        notification = recorded_email()

        with django_capture_on_commit_callbacks(execute=True):
            enqueue_after_commit(DELIVER, notification_id=notification.pk)
            assert mail.outbox == []

        assert len(mail.outbox) == 1

    def test_a_rolled_back_transaction_sends_nothing(self, django_capture_on_commit_callbacks):
        notification = recorded_email()

        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RolledBack), transaction.atomic():
                enqueue_after_commit(DELIVER, notification_id=notification.pk)
                raise RolledBack

        assert callbacks == []
        assert mail.outbox == []

    def test_an_unknown_task_fails_in_the_caller(self):
        with pytest.raises(NotRegistered):
            enqueue_after_commit("billing.tasks.emails.no_such_task", notification_id=1)
