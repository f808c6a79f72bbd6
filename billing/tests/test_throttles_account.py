"""`request_account`: what the docs API's limits read once per request, by one hand-written SQL statement; the
subscription and plan it loads must be those the ORM would have loaded."""
import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from accounts.tests.factories import UserFactory, UserProfileFactory
from billing.metering.throttles import request_account
from billing.models import Subscription, SubscriptionStatus
from billing.tests.factories import PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def account_of(user):
    return request_account(SimpleNamespace(user=user))


class TestRequestAccount:
    def test_the_live_subscription_its_plan_and_the_spend_cap_as_the_orm_loads_them(self):
        user = UserFactory()
        UserProfileFactory(user=user, monthly_spend_cap=Decimal("25.50"))
        SubscriptionFactory(user=user, status=SubscriptionStatus.CANCELLED, plan=PlanFactory(code="old"))
        live = SubscriptionFactory(
            user=user, status=SubscriptionStatus.PAUSED, cancel_at_period_end=True,
            plan=PlanFactory(code="team", name="Team", overage_price_per_million=Decimal("0.00")),
            paused_at=datetime.datetime(2026, 10, 12, 8, 30, tzinfo=datetime.UTC),
        )

        account = account_of(user)

        expected = Subscription.objects.select_related("plan").get(pk=live.pk)
        loaded = account.subscription
        for model_instance, from_orm in ((loaded, expected), (loaded.plan, expected.plan)):
            for field in type(from_orm)._meta.concrete_fields:
                value, orm_value = getattr(model_instance, field.attname), getattr(from_orm, field.attname)
                assert (value, type(value)) == (orm_value, type(orm_value)), field.name
        assert loaded.plan.has_hard_cap
        assert not loaded._state.adding
        assert (account.spend_cap, type(account.spend_cap)) == (Decimal("25.50"), Decimal)

    def test_without_a_profile_there_is_no_spend_cap(self):
        subscription = SubscriptionFactory()

        account = account_of(subscription.user)

        assert account.subscription == subscription
        assert account.spend_cap is None

    def test_without_a_live_subscription_there_is_none(self):
        user = UserFactory()
        UserProfileFactory(user=user, monthly_spend_cap=Decimal("10.00"))
        SubscriptionFactory(user=user, status=SubscriptionStatus.EXPIRED)

        account = account_of(user)

        assert account.subscription is None
        assert account.spend_cap is None

    def test_it_is_read_once_per_request(self, django_assert_num_queries):
        request = SimpleNamespace(user=SubscriptionFactory().user)

        with django_assert_num_queries(1):
            first, again = request_account(request), request_account(request)

        assert first is again
