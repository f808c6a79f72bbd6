"""A confirmed sign-up starts on the free plan (SIGNUP_PLAN), once; without that plan it starts on none."""
import datetime
import logging
import re
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import UserFactory
from billing.models import Subscription, SubscriptionStatus
from billing.subscriptions.signup import signup_subscription_create
from billing.tests.factories import PlanFactory, SubscriptionFactory

EMAIL = "grace@example.com"
PASSWORD = "a-long-unusual-passphrase-42"
NOW = datetime.datetime(2026, 11, 16, 9, 30, tzinfo=datetime.UTC)  # 10:30 in Paris, 16 November


@pytest.fixture
def free_plan():
    return PlanFactory(
        code="free", name="Free", price=Decimal("0.00"), included_tokens=100_000,
        overage_price_per_million=Decimal("0"),
    )


@pytest.fixture
def confirm_link(client, settings, django_capture_on_commit_callbacks):
    """Sign up on the page, and return the path of the link the confirmation email holds."""
    settings.SITE_URL = "https://billing.example.com"
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:signup"), {"email": EMAIL, "password": PASSWORD, "terms": "on"})
    [message] = mail.outbox
    [path] = re.findall(r"https://billing\.example\.com(/account/signup/confirm/\S+/)", message.body)
    return path


@pytest.mark.django_db
class TestSignupToFreePlan:
    def test_a_confirmed_customer_lands_on_the_plan_page_of_an_active_free_subscription(
        self, client, free_plan, confirm_link
    ):
        with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
            response = client.post(confirm_link, {"password": PASSWORD}, follow=True)

        assert response.redirect_chain == [(reverse("billing:plan_change"), 302)]
        assert response.status_code == 200
        assert response.context["subscription"].plan == free_plan
        subscription = Subscription.objects.get(user__email=EMAIL)
        assert subscription.status == SubscriptionStatus.ACTIVE
        assert subscription.plan == free_plan
        assert subscription.started_at == NOW + datetime.timedelta(minutes=5)
        assert (subscription.current_period_start, subscription.current_period_end) == (
            datetime.date(2026, 11, 16), datetime.date(2026, 12, 1)  # the rest of November, pro rata
        )

    def test_confirming_twice_makes_one_subscription(self, client, free_plan, confirm_link):
        with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
            client.post(confirm_link, {"password": PASSWORD})
            client.logout()
            again = client.post(confirm_link, {"password": PASSWORD})

        assert again.status_code == 400
        assert Subscription.objects.filter(user__email=EMAIL).count() == 1

    def test_without_the_plan_the_account_is_confirmed_with_no_subscription(
        self, client, settings, free_plan, confirm_link, caplog
    ):
        settings.SIGNUP_PLAN = "starter"  # no such plan
        with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
            with caplog.at_level(logging.WARNING, logger="billing.subscriptions.signup"):
                response = client.post(confirm_link, {"password": PASSWORD}, follow=True)

        assert User.objects.get(email=EMAIL).is_active
        assert not Subscription.objects.filter(user__email=EMAIL).exists()
        # The plan page has no subscription to change: it sends the customer to choose from their dashboard.
        assert response.redirect_chain[0] == (reverse("billing:plan_change"), 302)
        assert response.status_code == 200
        assert "No active plan 'starter' (SIGNUP_PLAN)" in caplog.text

    def test_a_plan_no_longer_offered_is_not_given(self, client, free_plan, confirm_link):
        free_plan.is_active = False
        free_plan.save()

        with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
            response = client.post(confirm_link, {"password": PASSWORD})

        assert response.status_code == 302
        assert User.objects.get(email=EMAIL).is_active
        assert not Subscription.objects.filter(user__email=EMAIL).exists()


@pytest.mark.django_db
class TestSignupSubscriptionCreate:
    def test_called_twice_it_subscribes_once(self, free_plan):
        user = UserFactory()

        first = signup_subscription_create(user=user, now=NOW)
        second = signup_subscription_create(user=user, now=NOW + datetime.timedelta(seconds=1))

        assert first == second
        assert Subscription.objects.filter(user=user).count() == 1

    def test_a_customer_with_a_subscription_gets_no_other(self, free_plan):
        pro = SubscriptionFactory()

        assert signup_subscription_create(user=pro.user, now=NOW) == pro
        assert list(Subscription.objects.filter(user=pro.user)) == [pro]
