import datetime
from decimal import Decimal

import pytest

from accounts.tests.factories import UserProfileFactory
from billing.models import AlertType, BillingAlert, InvoiceStatus, SubscriptionStatus
from billing.services import (
    expiring_subscription_alerts_raise,
    invoice_finalize,
    invoices_mark_overdue_due,
    subscription_cancel,
    subscriptions_expire_due,
    usage_threshold_alerts_raise,
)
from billing.tests.factories import InvoiceFactory, SubscriptionFactory, paris
from libraries.tests.factories import UsageLogFactory


def pro_customer_in_october():
    user = UserProfileFactory(country="FR").user
    SubscriptionFactory(user=user, current_period_start=datetime.date(2026, 10, 1),
                        current_period_end=datetime.date(2026, 11, 1))
    return user


def occasions(user, type):
    return sorted(BillingAlert.objects.filter(user=user, type=type).values_list("occasion", flat=True))


@pytest.mark.django_db
class TestUsageThresholds:
    def test_80_percent_of_the_quota_raises_one_alert(self):
        user = pro_customer_in_october()
        UsageLogFactory(user=user, tokens=4_000_000, created_at=paris(2026, 10, 10))  # exactly 80 % of 5M

        usage_threshold_alerts_raise(now=paris(2026, 10, 11))

        assert occasions(user, AlertType.USAGE_THRESHOLD) == ["2026-10:80"]

    def test_the_whole_quota_raises_both_and_never_again(self):
        user = pro_customer_in_october()
        UsageLogFactory(user=user, tokens=5_000_000, created_at=paris(2026, 10, 10))

        usage_threshold_alerts_raise(now=paris(2026, 10, 11))
        usage_threshold_alerts_raise(now=paris(2026, 10, 12))

        assert occasions(user, AlertType.USAGE_THRESHOLD) == ["2026-10:100", "2026-10:80"]

    def test_below_80_percent_raises_nothing(self):
        user = pro_customer_in_october()
        UsageLogFactory(user=user, tokens=3_999_999, created_at=paris(2026, 10, 10))

        usage_threshold_alerts_raise(now=paris(2026, 10, 11))

        assert occasions(user, AlertType.USAGE_THRESHOLD) == []

    def test_last_months_usage_does_not_count(self):
        user = pro_customer_in_october()
        UsageLogFactory(user=user, tokens=5_000_000, created_at=paris(2026, 9, 30, 23, 59))

        usage_threshold_alerts_raise(now=paris(2026, 10, 11))

        assert occasions(user, AlertType.USAGE_THRESHOLD) == []


@pytest.mark.django_db
class TestSubscriptionEnding:
    def test_a_subscription_ending_within_seven_days_is_announced_once(self):
        user = pro_customer_in_october()
        subscription_cancel(subscription=user.subscriptions.get(), at_period_end=True, now=paris(2026, 10, 3))

        expiring_subscription_alerts_raise(now=paris(2026, 10, 24))  # ends 1 November: 8 days away
        assert occasions(user, AlertType.SUBSCRIPTION_EXPIRING) == []
        expiring_subscription_alerts_raise(now=paris(2026, 10, 25))
        expiring_subscription_alerts_raise(now=paris(2026, 10, 26))

        assert occasions(user, AlertType.SUBSCRIPTION_EXPIRING) == ["expires:2026-11-01"]

    def test_a_cancelled_at_period_end_subscription_expires_once_the_period_is_over(self):
        user = pro_customer_in_october()
        subscription = user.subscriptions.get()
        subscription_cancel(subscription=subscription, at_period_end=True, now=paris(2026, 10, 3))

        subscriptions_expire_due(now=paris(2026, 10, 31, 23))
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.ACTIVE

        subscriptions_expire_due(now=paris(2026, 11, 1, 0, 10))
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.EXPIRED
        assert subscription.ended_at == paris(2026, 11, 1)


@pytest.mark.django_db
class TestOverdue:
    def test_sent_invoices_past_due_become_overdue_with_an_alert(self):
        user = pro_customer_in_october()
        invoice = invoice_finalize(
            invoice=InvoiceFactory(subscription=user.subscriptions.get()), now=paris(2026, 11, 1, 2)
        )
        assert invoice.due_date == datetime.date(2026, 12, 1)

        invoices_mark_overdue_due(now=paris(2026, 12, 1, 23))  # still the due day
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT

        invoices_mark_overdue_due(now=paris(2026, 12, 2, 1))
        invoices_mark_overdue_due(now=paris(2026, 12, 3, 1))
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.OVERDUE
        assert occasions(user, AlertType.INVOICE_OVERDUE) == ["invoice:TMCP-2026-000001"]
        assert invoice.amount_due == Decimal("22.80")
