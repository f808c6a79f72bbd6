"""Subscriptions: subscribe, change plan, pause, resume, cancel, expire — and every refused move."""
import datetime
from decimal import Decimal

import pytest

from accounts.models import AuditLog
from accounts.tests.factories import UserFactory
from billing.exceptions import BillingError, InvalidTransition
from billing.models import (
    Interval,
    Plan,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
    SubscriptionStatus,
)
from billing.selectors import scheduled_plan_change
from billing.services import (
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_expire,
    subscription_pause,
    subscription_resume,
    subscription_scheduled_change_apply,
    subscription_scheduled_change_cancel,
)
from billing.subscriptions.lifecycle import plan_change_is_upgrade
from billing.tests.factories import PlanFactory, SubscriptionFactory, paris

UTC = datetime.UTC


# October 2026 is the current period of the subscriptions below; "now" is mid-October in Paris.
NOW = paris(2026, 10, 20, 10, 0)
OCT_1, NOV_1 = datetime.date(2026, 10, 1), datetime.date(2026, 11, 1)


def snapshot(subscription: Subscription) -> dict:
    """Every column of the row as stored, plus the rows a move would add."""
    row = Subscription.objects.get(pk=subscription.pk)
    return {
        "row": {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields},
        "pauses": list(SubscriptionPause.objects.filter(subscription=row).values()),
        "plan_changes": SubscriptionPlanChange.objects.count(),
        "audit_rows": AuditLog.objects.count(),
    }


def audit_rows(subscription: Subscription, action: str):
    return AuditLog.objects.filter(
        action=action, object_type="billing.Subscription", object_id=str(subscription.pk)
    )


@pytest.fixture
def pro():
    return PlanFactory()  # Pro, 19.00 a month


@pytest.fixture
def team():
    return PlanFactory(code="team", name="Team", price=Decimal("49.00"), included_tokens=20_000_000)


def subscription_in(status: str, *, plan=None, **fields) -> Subscription:
    """A subscription on October 2026 in `status`, with the dates a real one would have there."""
    plan = plan or PlanFactory()
    started = paris(2026, 10, 1, 9, 0)
    fields = {"started_at": started, **fields}
    if status == SubscriptionStatus.PAUSED:
        subscription = SubscriptionFactory(plan=plan, status=status, paused_at=paris(2026, 10, 10, 9, 0), **fields)
        SubscriptionPause.objects.create(subscription=subscription, start_date=datetime.date(2026, 10, 10))
        return subscription
    if status == SubscriptionStatus.CANCELLED:
        cancelled = paris(2026, 10, 12, 9, 0)
        return SubscriptionFactory(plan=plan, status=status, cancelled_at=cancelled, ended_at=cancelled, **fields)
    if status == SubscriptionStatus.EXPIRED:
        return SubscriptionFactory(
            plan=plan, status=status, cancel_at_period_end=True, cancelled_at=paris(2026, 10, 12, 9, 0),
            ended_at=paris(2026, 11, 1, 0, 0), **fields,
        )
    return SubscriptionFactory(plan=plan, status=status, **fields)


@pytest.mark.django_db
class TestSubscribe:
    def test_the_first_period_runs_from_today_to_the_first_of_next_month(self, pro):
        user = UserFactory()
        now = paris(2026, 10, 14, 9, 0)

        subscription = subscription_create(user=user, plan=pro, now=now)

        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.ACTIVE
        assert subscription.plan == pro
        assert subscription.current_period_start == datetime.date(2026, 10, 14)
        assert subscription.current_period_end == NOV_1
        assert subscription.started_at == now
        assert subscription.cancel_at_period_end is False
        assert (subscription.paused_at, subscription.cancelled_at, subscription.ended_at) == (None, None, None)
        assert audit_rows(subscription, "subscription.create").get().changes == {"plan": "pro"}

    def test_today_is_the_day_in_paris_not_in_utc(self, pro):
        # 23:30 UTC on 31 October is 00:30 on 1 November in Paris: a whole November period.
        subscription = subscription_create(
            user=UserFactory(), plan=pro, now=datetime.datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
        )

        assert subscription.current_period_start == NOV_1
        assert subscription.current_period_end == datetime.date(2026, 12, 1)

    def test_a_yearly_plan_runs_to_the_end_of_the_twelfth_month(self):
        yearly = PlanFactory(code="pro-yearly", name="Pro yearly", price=Decimal("190.00"), interval=Interval.YEAR)

        subscription = subscription_create(user=UserFactory(), plan=yearly, now=paris(2026, 3, 10, 12, 0))

        # March 2026 is the first of twelve months: March 2026 … February 2027.
        assert subscription.current_period_start == datetime.date(2026, 3, 10)
        assert subscription.current_period_end == datetime.date(2027, 3, 1)

    @pytest.mark.parametrize("live_status", [SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED])
    def test_a_second_live_subscription_is_refused(self, pro, team, live_status):
        first = subscription_in(live_status, plan=pro)
        before = snapshot(first)

        with pytest.raises(BillingError, match="You already have a live subscription"):
            subscription_create(user=first.user, plan=team, now=NOW)

        assert Subscription.objects.filter(user=first.user).count() == 1
        assert snapshot(first) == before

    @pytest.mark.parametrize("ended_status", [SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED])
    def test_a_customer_whose_subscription_ended_may_subscribe_again(self, pro, team, ended_status):
        ended = subscription_in(ended_status, plan=pro)

        again = subscription_create(user=ended.user, plan=team, now=paris(2026, 11, 5, 9, 0))

        assert again.pk != ended.pk
        assert again.status == SubscriptionStatus.ACTIVE
        assert (again.current_period_start, again.current_period_end) == (
            datetime.date(2026, 11, 5), datetime.date(2026, 12, 1),
        )

    def test_a_plan_no_longer_offered_is_refused(self):
        retired = PlanFactory(code="legacy", name="Legacy", is_active=False)
        user = UserFactory()
        audit_before = AuditLog.objects.count()

        with pytest.raises(BillingError, match=r"Legacy \(legacy\) is no longer offered"):
            subscription_create(user=user, plan=retired, now=NOW)

        assert not Subscription.objects.filter(user=user).exists()
        assert AuditLog.objects.count() == audit_before


@pytest.mark.django_db
class TestChangePlan:
    def test_the_new_plan_is_in_force_from_today(self, pro, team):
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=pro)
        now = paris(2026, 10, 15, 10, 0)

        subscription_change_plan(subscription=subscription, plan=team, now=now)

        subscription.refresh_from_db()
        assert subscription.plan == team
        assert subscription.status == SubscriptionStatus.ACTIVE
        # The period itself is unchanged: its fee is split by days at invoicing.
        assert (subscription.current_period_start, subscription.current_period_end) == (OCT_1, NOV_1)
        change = SubscriptionPlanChange.objects.get(subscription=subscription)
        assert (change.from_plan, change.to_plan) == (pro, team)
        assert change.effective_date == datetime.date(2026, 10, 15)
        assert change.changed_at == now
        assert audit_rows(subscription, "subscription.change_plan").get().changes == {"plan": ["pro", "team"]}

    def test_the_effective_date_is_the_day_in_paris(self, pro, team):
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=pro)

        # 22:30 UTC on 15 October is 00:30 on 16 October in Paris (summer time, UTC+2).
        subscription_change_plan(
            subscription=subscription, plan=team, now=datetime.datetime(2026, 10, 15, 22, 30, tzinfo=UTC)
        )

        assert SubscriptionPlanChange.objects.get(subscription=subscription).effective_date == datetime.date(
            2026, 10, 16
        )

    def test_two_changes_make_a_history(self, pro, team):
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=pro)

        subscription_change_plan(subscription=subscription, plan=team, now=paris(2026, 10, 10, 9, 0))
        subscription_change_plan(subscription=subscription, plan=pro, now=paris(2026, 10, 20, 9, 0))

        history = [
            (change.from_plan.code, change.to_plan.code, change.effective_date)
            for change in SubscriptionPlanChange.objects.filter(subscription=subscription)
        ]
        # The way back to Pro is a downgrade: it waits for the end of the period.
        assert history == [
            ("pro", "team", datetime.date(2026, 10, 10)),
            ("team", "pro", NOV_1),
        ]
        subscription.refresh_from_db()
        assert subscription.plan == team

    def test_the_same_plan_is_refused(self, pro):
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=pro)
        before = snapshot(subscription)

        with pytest.raises(BillingError, match="already on Pro"):
            subscription_change_plan(subscription=subscription, plan=pro, now=NOW)

        assert snapshot(subscription) == before

    def test_a_plan_no_longer_offered_is_refused(self, pro):
        retired = PlanFactory(code="legacy", name="Legacy", is_active=False)
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=pro)
        before = snapshot(subscription)

        with pytest.raises(BillingError, match=r"Legacy \(legacy\) is no longer offered"):
            subscription_change_plan(subscription=subscription, plan=retired, now=NOW)

        assert snapshot(subscription) == before

    def test_a_plan_billed_on_another_interval_is_refused(self, pro):
        yearly = PlanFactory(code="pro-yearly", name="Pro yearly", price=Decimal("190.00"), interval=Interval.YEAR)
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=pro)
        before = snapshot(subscription)

        with pytest.raises(BillingError, match="different intervals"):
            subscription_change_plan(subscription=subscription, plan=yearly, now=NOW)

        assert snapshot(subscription) == before


def plan(code, price, tokens, interval=Interval.MONTH):
    return Plan(code=code, price=Decimal(price), included_tokens=tokens, interval=interval)


class TestWhatIsAnUpgrade:
    @pytest.mark.parametrize(
        ("current", "new", "upgrade"),
        [
            (plan("pro", "19.00", 5_000_000), plan("team", "99.00", 50_000_000), True),
            (plan("team", "99.00", 50_000_000), plan("pro", "19.00", 5_000_000), False),
            # A dearer plan is an upgrade even with fewer tokens: the customer pays more from today.
            (plan("pro", "19.00", 5_000_000), plan("lite-plus", "25.00", 1_000_000), True),
            # At equal price, more included tokens is an upgrade; fewer, or as many, waits for the period's end.
            (plan("pro", "19.00", 5_000_000), plan("pro-max", "19.00", 6_000_000), True),
            (plan("pro", "19.00", 5_000_000), plan("pro-min", "19.00", 4_000_000), False),
            (plan("pro", "19.00", 5_000_000), plan("pro-twin", "19.00", 5_000_000), False),
            # A yearly price counts as a twelfth of it a month.
            (plan("pro", "99.00", 5_000_000), plan("pro-y", "1200.00", 1, Interval.YEAR), True),
            (plan("pro", "100.00", 5_000_000), plan("pro-y", "1188.00", 1, Interval.YEAR), False),
        ],
        ids=lambda value: value.code if isinstance(value, Plan) else str(value),
    )
    def test_a_higher_monthly_equivalent_price_or_more_tokens_for_the_same(self, current, new, upgrade):
        assert plan_change_is_upgrade(current, new) is upgrade


@pytest.fixture
def free():
    return PlanFactory(code="free", name="Free", price=Decimal("0.00"), included_tokens=100_000,
                       overage_price_per_million=Decimal("0"))


def history(subscription) -> list[tuple]:
    return [
        (change.from_plan.code, change.to_plan.code, change.effective_date)
        for change in SubscriptionPlanChange.objects.filter(subscription=subscription).order_by("changed_at", "id")
    ]


@pytest.mark.django_db
class TestScheduledDowngrade:
    def test_a_downgrade_waits_for_the_end_of_the_period(self, pro, team):
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=team)

        subscription_change_plan(subscription=subscription, plan=pro, now=NOW)

        subscription.refresh_from_db()
        assert subscription.plan == team  # this period's plan, and its quota, until 31 October
        assert history(subscription) == [("team", "pro", NOV_1)]
        scheduled = scheduled_plan_change(subscription)
        assert (scheduled.to_plan, scheduled.effective_date) == (pro, NOV_1)
        assert audit_rows(subscription, "subscription.schedule_plan_change").get().changes == {
            "plan": ["team", "pro"], "effective_date": "2026-11-01"
        }
        assert not audit_rows(subscription, "subscription.change_plan").exists()

    def test_a_new_choice_replaces_the_scheduled_one(self, pro, team, free):
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=team)
        subscription_change_plan(subscription=subscription, plan=pro, now=NOW)

        subscription_change_plan(subscription=subscription, plan=free, now=NOW + datetime.timedelta(days=1))

        assert history(subscription) == [("team", "free", NOV_1)]
        assert scheduled_plan_change(subscription).to_plan == free
        assert audit_rows(subscription, "subscription.schedule_plan_change").order_by("pk").last().changes == {
            "plan": ["team", "free"], "replaces_scheduled": "pro", "effective_date": "2026-11-01"
        }

    def test_an_upgrade_applies_at_once_and_drops_the_scheduled_downgrade(self, pro, team, free):
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=pro)
        subscription_change_plan(subscription=subscription, plan=free, now=NOW)

        subscription_change_plan(subscription=subscription, plan=team, now=NOW + datetime.timedelta(days=1))

        subscription.refresh_from_db()
        assert subscription.plan == team
        assert history(subscription) == [("pro", "team", datetime.date(2026, 10, 21))]
        assert scheduled_plan_change(subscription) is None

    def test_the_customer_may_cancel_it(self, pro, team):
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=team)
        subscription_change_plan(subscription=subscription, plan=pro, now=NOW)

        subscription_scheduled_change_cancel(subscription=subscription)

        subscription.refresh_from_db()
        assert subscription.plan == team
        assert scheduled_plan_change(subscription) is None
        assert history(subscription) == []  # it never took effect
        assert audit_rows(subscription, "subscription.cancel_scheduled_change").get().changes == {
            "plan": ["team", "pro"]
        }

    def test_cancelling_when_nothing_is_scheduled_is_refused(self, team):
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=team)
        before = snapshot(subscription)

        with pytest.raises(InvalidTransition, match="no plan change scheduled"):
            subscription_scheduled_change_cancel(subscription=subscription)

        assert snapshot(subscription) == before

    def test_finance_applies_it_at_once_from_today(self, pro, team):
        subscription = subscription_in(SubscriptionStatus.ACTIVE, plan=team)
        subscription_change_plan(subscription=subscription, plan=pro, now=NOW)

        subscription_scheduled_change_apply(subscription=subscription, now=paris(2026, 10, 25, 9, 0))

        subscription.refresh_from_db()
        assert subscription.plan == pro
        assert history(subscription) == [("team", "pro", datetime.date(2026, 10, 25))]
        assert scheduled_plan_change(subscription) is None
        assert audit_rows(subscription, "subscription.change_plan").get().changes == {
            "plan": ["team", "pro"], "scheduled_change_applied_at_once": True
        }


@pytest.mark.django_db
class TestPauseAndResume:
    def test_pause_opens_a_pause_from_today(self):
        subscription = subscription_in(SubscriptionStatus.ACTIVE)
        now = paris(2026, 10, 12, 8, 0)

        subscription_pause(subscription=subscription, now=now)

        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.PAUSED
        assert subscription.paused_at == now
        pause = SubscriptionPause.objects.get(subscription=subscription)
        assert (pause.start_date, pause.end_date) == (datetime.date(2026, 10, 12), None)
        assert audit_rows(subscription, "subscription.pause").count() == 1

    def test_resume_closes_the_pause_today(self):
        subscription = subscription_in(SubscriptionStatus.ACTIVE)
        subscription_pause(subscription=subscription, now=paris(2026, 10, 12, 8, 0))

        subscription_resume(subscription=subscription, now=paris(2026, 10, 19, 18, 0))

        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.ACTIVE
        assert subscription.paused_at is None
        pause = SubscriptionPause.objects.get(subscription=subscription)
        # Days 12 to 18 October were paused: [12, 19).
        assert (pause.start_date, pause.end_date) == (datetime.date(2026, 10, 12), datetime.date(2026, 10, 19))
        assert audit_rows(subscription, "subscription.resume").count() == 1

    def test_pausing_again_after_a_resume_opens_a_second_pause(self):
        subscription = subscription_in(SubscriptionStatus.ACTIVE)
        subscription_pause(subscription=subscription, now=paris(2026, 10, 5, 8, 0))
        subscription_resume(subscription=subscription, now=paris(2026, 10, 8, 8, 0))

        subscription_pause(subscription=subscription, now=paris(2026, 10, 20, 8, 0))

        pauses = [(p.start_date, p.end_date) for p in SubscriptionPause.objects.filter(subscription=subscription)]
        assert pauses == [
            (datetime.date(2026, 10, 5), datetime.date(2026, 10, 8)),
            (datetime.date(2026, 10, 20), None),
        ]


@pytest.mark.django_db
class TestCancel:
    def test_cancel_now_ends_the_subscription(self):
        subscription = subscription_in(SubscriptionStatus.ACTIVE)

        subscription_cancel(subscription=subscription, at_period_end=False, now=NOW)

        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.CANCELLED
        assert subscription.cancelled_at == NOW
        assert subscription.ended_at == NOW
        assert audit_rows(subscription, "subscription.cancel").count() == 1

    def test_cancelling_a_paused_subscription_closes_its_pause(self):
        subscription = subscription_in(SubscriptionStatus.PAUSED)

        subscription_cancel(subscription=subscription, at_period_end=False, now=NOW)

        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.CANCELLED
        pause = SubscriptionPause.objects.get(subscription=subscription)
        assert (pause.start_date, pause.end_date) == (datetime.date(2026, 10, 10), datetime.date(2026, 10, 20))

    def test_cancel_at_period_end_only_sets_the_flag(self):
        subscription = subscription_in(SubscriptionStatus.ACTIVE)

        subscription_cancel(subscription=subscription, at_period_end=True, now=NOW)

        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.ACTIVE
        assert subscription.cancel_at_period_end is True
        assert subscription.cancelled_at == NOW
        assert subscription.ended_at is None
        assert audit_rows(subscription, "subscription.cancel_at_period_end").get().changes == {
            "ends_on": "2026-11-01"
        }


@pytest.mark.django_db
class TestExpire:
    def test_a_subscription_cancelled_at_period_end_expires_once_the_period_is_over(self):
        subscription = subscription_in(SubscriptionStatus.ACTIVE)
        subscription_cancel(subscription=subscription, at_period_end=True, now=NOW)

        # 23:30 UTC on 31 October is 1 November in Paris: October is over.
        subscription_expire(subscription=subscription, now=datetime.datetime(2026, 10, 31, 23, 30, tzinfo=UTC))

        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.EXPIRED
        assert subscription.ended_at == paris(2026, 11, 1, 0, 0)
        assert subscription.cancelled_at == NOW
        assert audit_rows(subscription, "subscription.expire").count() == 1

    def test_a_paused_subscription_expires_with_its_pause_closed_at_the_period_end(self):
        subscription = subscription_in(SubscriptionStatus.PAUSED)
        subscription_cancel(subscription=subscription, at_period_end=True, now=NOW)

        subscription_expire(subscription=subscription, now=paris(2026, 11, 2, 9, 0))

        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.EXPIRED
        pause = SubscriptionPause.objects.get(subscription=subscription)
        assert pause.end_date == NOV_1


def _flagged_for_period_end(status=SubscriptionStatus.ACTIVE):
    return subscription_in(status, cancel_at_period_end=True, cancelled_at=paris(2026, 10, 12, 9, 0))


# (subscription in a state, the refused move, the error, what its message says)
REFUSED_MOVES = {
    "resume an active subscription": (
        lambda: subscription_in(SubscriptionStatus.ACTIVE),
        lambda s: subscription_resume(subscription=s, now=NOW),
        InvalidTransition, r"Subscription \d+ cannot move from ACTIVE to ACTIVE",
    ),
    "resume an expired subscription": (
        lambda: subscription_in(SubscriptionStatus.EXPIRED),
        lambda s: subscription_resume(subscription=s, now=NOW),
        InvalidTransition, r"Subscription \d+ cannot move from EXPIRED to ACTIVE",
    ),
    "resume a cancelled subscription": (
        lambda: subscription_in(SubscriptionStatus.CANCELLED),
        lambda s: subscription_resume(subscription=s, now=NOW),
        InvalidTransition, r"Subscription \d+ cannot move from CANCELLED to ACTIVE",
    ),
    "pause a paused subscription": (
        lambda: subscription_in(SubscriptionStatus.PAUSED),
        lambda s: subscription_pause(subscription=s, now=NOW),
        InvalidTransition, r"Subscription \d+ cannot move from PAUSED to PAUSED",
    ),
    "pause a cancelled subscription": (
        lambda: subscription_in(SubscriptionStatus.CANCELLED),
        lambda s: subscription_pause(subscription=s, now=NOW),
        InvalidTransition, r"Subscription \d+ cannot move from CANCELLED to PAUSED",
    ),
    "pause an expired subscription": (
        lambda: subscription_in(SubscriptionStatus.EXPIRED),
        lambda s: subscription_pause(subscription=s, now=NOW),
        InvalidTransition, r"Subscription \d+ cannot move from EXPIRED to PAUSED",
    ),
    "cancel a cancelled subscription now": (
        lambda: subscription_in(SubscriptionStatus.CANCELLED),
        lambda s: subscription_cancel(subscription=s, at_period_end=False, now=NOW),
        InvalidTransition, r"Subscription \d+ cannot move from CANCELLED to CANCELLED",
    ),
    "cancel a cancelled subscription at period end": (
        lambda: subscription_in(SubscriptionStatus.CANCELLED),
        lambda s: subscription_cancel(subscription=s, at_period_end=True, now=NOW),
        InvalidTransition, r"Subscription \d+ cannot move from CANCELLED to EXPIRED",
    ),
    "cancel an expired subscription now": (
        lambda: subscription_in(SubscriptionStatus.EXPIRED),
        lambda s: subscription_cancel(subscription=s, at_period_end=False, now=NOW),
        InvalidTransition, r"Subscription \d+ cannot move from EXPIRED to CANCELLED",
    ),
    "cancel at period end twice": (
        _flagged_for_period_end,
        lambda s: subscription_cancel(subscription=s, at_period_end=True, now=NOW),
        BillingError, r"already ends after 31 October 2026",
    ),
    "change the plan of an expired subscription": (
        lambda: subscription_in(SubscriptionStatus.EXPIRED),
        lambda s: subscription_change_plan(subscription=s, plan=PlanFactory(code="team", name="Team"), now=NOW),
        InvalidTransition, r"Subscription \d+ is EXPIRED: its plan cannot change",
    ),
    "change the plan of a cancelled subscription": (
        lambda: subscription_in(SubscriptionStatus.CANCELLED),
        lambda s: subscription_change_plan(subscription=s, plan=PlanFactory(code="team", name="Team"), now=NOW),
        InvalidTransition, r"Subscription \d+ is CANCELLED: its plan cannot change",
    ),
    "expire a subscription that was not cancelled": (
        lambda: subscription_in(SubscriptionStatus.ACTIVE),
        lambda s: subscription_expire(subscription=s, now=paris(2026, 11, 2, 9, 0)),
        InvalidTransition, r"Subscription \d+ was not cancelled: it does not expire",
    ),
    "expire before the period is over": (
        _flagged_for_period_end,
        # 22:30 UTC on 31 October is still 31 October (23:30) in Paris.
        lambda s: subscription_expire(subscription=s, now=datetime.datetime(2026, 10, 31, 22, 30, tzinfo=UTC)),
        InvalidTransition, r"runs until 2026-11-01: it has not expired yet",
    ),
    "expire a cancelled subscription": (
        lambda: subscription_in(SubscriptionStatus.CANCELLED),
        lambda s: subscription_expire(subscription=s, now=paris(2026, 11, 2, 9, 0)),
        InvalidTransition, r"Subscription \d+ cannot move from CANCELLED to EXPIRED",
    ),
    "expire an expired subscription": (
        lambda: subscription_in(SubscriptionStatus.EXPIRED),
        lambda s: subscription_expire(subscription=s, now=paris(2026, 11, 2, 9, 0)),
        InvalidTransition, r"Subscription \d+ cannot move from EXPIRED to EXPIRED",
    ),
}


@pytest.mark.django_db
class TestRefusedMoves:
    @pytest.mark.parametrize("case", REFUSED_MOVES.values(), ids=REFUSED_MOVES.keys())
    def test_is_refused_with_a_clear_error_and_changes_nothing(self, case):
        arrange, move, error, message = case
        subscription = arrange()
        before = snapshot(subscription)

        with pytest.raises(error, match=message):
            move(subscription)

        assert snapshot(subscription) == before
