"""Moving the subscribers of a plan version to a newer one, at their next period, with a preview and an email.

The world: Pro (19.00 a month, 5,000,000 tokens included, 2.00 per million beyond) replaced on 2 November 2026 by
Pro 2027 (24.00, the same quota, 2.50 per million). On 16 November, in the period 1 November → 1 December:
- Ada (French, in French) has been on Pro since September and used 8,000,000 tokens in October;
- Ben (English) subscribed on 10 November: no billed period yet;
- Chloé ends her subscription at the period's end; Dan has a downgrade to Free scheduled.
"""
import datetime
import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.core import mail

from accounts.models import AuditLog
from accounts.tests.admin_helpers import admin_url
from accounts.tests.factories import make_customer
from billing.exceptions import BillingError, InvalidTransition
from billing.models import (
    EmailKind,
    EmailNotification,
    Invoice,
    InvoiceKind,
    Plan,
    PlanVersionMove,
    Subscription,
    SubscriptionPlanChange,
)
from billing.selectors import invoice_upcoming
from billing.services import (
    invoice_run,
    plan_new_version,
    plan_version_move,
    subscription_change_plan,
    subscription_scheduled_change_cancel,
)
from billing.subscriptions.plan_moves import MoveOutcome, plan_newer_versions, plan_version_move_preview
from billing.tests.factories import PlanFactory, SubscriptionFactory, paris
from billing.tests.test_admin_actions import apply_action, messages_of, start_action
from billing.tests.test_concurrency import run_in_threads
from libraries.tests.factories import UsageLogFactory

NOW = paris(2026, 11, 16, 10, 0)
DECEMBER_1 = datetime.date(2026, 12, 1)


@pytest.fixture
def world(db):
    pro = PlanFactory(code="pro", name="Pro")
    free = PlanFactory(code="free", name="Free", price=Decimal("0.00"), included_tokens=100_000)
    pro_2027 = plan_new_version(
        plan=pro, code="pro-2027", name="Pro 2027", price="24.00", overage_price_per_million="2.50",
        now=paris(2026, 11, 2, 9, 0),
    )
    pro.refresh_from_db()

    def subscriber(email, *, language="en", started, start=datetime.date(2026, 11, 1), **fields):
        user = make_customer(user__email=email, full_name=email.split("@")[0].capitalize(), language=language)
        return SubscriptionFactory(
            user=user, plan=pro, started_at=started, current_period_start=start, current_period_end=DECEMBER_1,
            **fields,
        )

    ada = subscriber("ada@example.com", language="fr", started=paris(2026, 9, 1, 9, 0))
    UsageLogFactory(user=ada.user, tokens=8_000_000, created_at=paris(2026, 10, 20, 12, 0))
    UsageLogFactory(user=ada.user, tokens=4_000_000, created_at=paris(2026, 11, 3, 12, 0))  # this period: not shown
    ben = subscriber("ben@example.com", started=paris(2026, 11, 10, 9, 0), start=datetime.date(2026, 11, 10))
    chloe = subscriber("chloe@example.com", started=paris(2026, 9, 1, 9, 0), cancel_at_period_end=True)
    dan = subscriber("dan@example.com", started=paris(2026, 9, 1, 9, 0))
    subscription_change_plan(subscription=dan, plan=free, now=paris(2026, 11, 5, 9, 0))
    return {"pro": pro, "pro_2027": pro_2027, "free": free, "ada": ada, "ben": ben, "chloe": chloe, "dan": dan}


def move(world, *, by=None, capture=None):
    if capture is None:
        return plan_version_move(from_plan=world["pro"], to_plan=world["pro_2027"], by=by, now=NOW)
    with capture(execute=True):
        return plan_version_move(from_plan=world["pro"], to_plan=world["pro_2027"], by=by, now=NOW)


class TestVersionLinks:
    def test_a_new_version_knows_the_one_it_replaces(self, world):
        assert world["pro_2027"].previous_version == world["pro"]
        later = plan_new_version(plan=world["pro_2027"], code="pro-2028", price="29.00")
        assert plan_newer_versions(world["pro"]) == [later, world["pro_2027"]]


    def test_the_migration_links_the_versions_made_before_from_the_audit_trail(self, world):
        lookalike = PlanFactory(code="team-2027", name="Team 2027")  # a code like a version's, made as a plan
        Plan.objects.update(previous_version=None)

        importlib.import_module("billing.migrations.0023_plan_version_moves").link_previous_versions(apps, None)

        assert dict(Plan.objects.values_list("code", "previous_version__code")) == {
            "pro": None, "free": None, "pro-2027": "pro", lookalike.code: None,
        }


class TestPreview:
    def test_each_subscriber_and_the_revenue_to_the_cent(self, world):
        preview = plan_version_move_preview(from_plan=world["pro"], to_plan=world["pro_2027"], now=NOW)

        rows = {row.subscription.user.email: row for row in preview.rows}
        ada, ben = rows["ada@example.com"], rows["ben@example.com"]
        # Ada's October: 8,000,000 tokens, 3,000,000 beyond the quota: 6.00 at 2.00, 7.50 at 2.50.
        assert (ada.current_fee, ada.new_fee, ada.tokens, ada.current_usage, ada.new_usage) == (
            Decimal("19.00"), Decimal("24.00"), 8_000_000, Decimal("6.00"), Decimal("7.50"),
        )
        assert (ada.current_total, ada.new_total, ada.change) == (Decimal("25.00"), Decimal("31.50"), Decimal("6.50"))
        october = (datetime.date(2026, 10, 1), datetime.date(2026, 11, 1))
        assert (ada.billed_period.start, ada.billed_period.end) == october
        assert ada.effective_date == DECEMBER_1
        # Ben has no billed period yet: the fee alone.
        assert (ben.billed_period, ben.current_total, ben.new_total) == (None, Decimal("19.00"), Decimal("24.00"))
        assert {email: row.outcome for email, row in rows.items()} == {
            "ada@example.com": MoveOutcome.MOVES,
            "ben@example.com": MoveOutcome.MOVES,
            "chloe@example.com": MoveOutcome.ENDING,
            "dan@example.com": MoveOutcome.OTHER_CHANGE,
        }
        # Ada and Ben: 25.00 + 19.00 a month now, 31.50 + 24.00 after.
        assert (preview.monthly_revenue_before, preview.monthly_revenue_after, preview.monthly_revenue_change) == (
            Decimal("44.00"), Decimal("55.50"), Decimal("11.50"),
        )

    def test_writes_nothing(self, world):
        plan_version_move_preview(from_plan=world["pro"], to_plan=world["pro_2027"], now=NOW)

        assert not PlanVersionMove.objects.exists()
        assert not SubscriptionPlanChange.objects.filter(to_plan=world["pro_2027"]).exists()


class TestMove:
    def test_schedules_each_live_subscriber_at_its_next_period_and_says_how_many(
        self, world, django_capture_on_commit_callbacks
    ):
        done = move(world, capture=django_capture_on_commit_callbacks)

        changes = SubscriptionPlanChange.objects.filter(to_plan=world["pro_2027"]).order_by("subscription_id")
        assert [(c.subscription_id, c.from_plan.code, c.effective_date) for c in changes] == [
            (world["ada"].pk, "pro", DECEMBER_1), (world["ben"].pk, "pro", DECEMBER_1),
        ]
        record = PlanVersionMove.objects.get()
        assert (record.scheduled_count, record.skipped_count) == (2, 2)
        assert {c.version_move_id for c in changes} == {record.pk}
        assert (len(done.moving), len(done.skipped)) == (2, 2)
        # Until then they stay on Pro; Dan keeps his own choice.
        assert set(Subscription.objects.values_list("plan__code", flat=True)) == {"pro"}
        assert SubscriptionPlanChange.objects.get(subscription=world["dan"]).to_plan == world["free"]
        assert AuditLog.objects.filter(action="plan.version_move").get().changes["monthly_revenue"] == [
            "44.00", "55.50",
        ]
        assert AuditLog.objects.filter(action="subscription.schedule_plan_change",
                                       changes__version_move=record.pk).count() == 2

    def test_each_customer_is_emailed_once_in_their_language_with_both_prices_and_the_date(
        self, world, django_capture_on_commit_callbacks
    ):
        move(world, capture=django_capture_on_commit_callbacks)

        by_recipient = {message.to[0]: message for message in mail.outbox}
        assert len(mail.outbox) == 2
        ben = by_recipient[world["ben"].user.profile.invoice_email]
        assert ben.subject == "Your TwinMCP Pro plan moves to its new version on 1 December 2026"
        assert "On 1 December 2026, your Pro plan moves to its new version, Pro 2027." in ben.body
        assert "Price now: 19.00\u00a0EUR a month, excl. VAT" in ben.body
        assert "New price: 24.00\u00a0EUR a month, excl. VAT" in ben.body
        assert "24.00\u00a0EUR a month, excl. VAT" in ben.alternatives[0][0]
        ada = EmailNotification.objects.get(user=world["ada"].user)
        assert (ada.kind, ada.language, ada.context["old_price"], ada.context["new_price"]) == (
            EmailKind.PLAN_VERSION_MOVE, "fr", "19.00", "24.00",
        )
        french = by_recipient[world["ada"].user.profile.invoice_email]
        assert "1er décembre 2026" in french.subject and "24,00\u00a0EUR" in french.body

    def test_run_twice_schedules_and_emails_nothing_more(self, world, django_capture_on_commit_callbacks):
        move(world, capture=django_capture_on_commit_callbacks)
        again = move(world, capture=django_capture_on_commit_callbacks)

        assert (len(again.moving), len(again.skipped)) == (0, 4)
        assert {row.outcome for row in again.rows if row.subscription.pk in (world["ada"].pk, world["ben"].pk)} == {
            MoveOutcome.ALREADY_MOVING
        }
        assert SubscriptionPlanChange.objects.filter(to_plan=world["pro_2027"]).count() == 2
        assert EmailNotification.objects.filter(kind=EmailKind.PLAN_VERSION_MOVE).count() == 2
        assert len(mail.outbox) == 2

    @pytest.mark.django_db(transaction=True)
    def test_two_moves_at_once_schedule_and_email_each_subscriber_once(self, world):
        run = [lambda: move(world), lambda: move(world)]

        results = run_in_threads(*run, hold=Plan.objects.filter(pk=world["pro"].pk))

        assert sorted(len(done.moving) for done in results) == [0, 2]
        assert SubscriptionPlanChange.objects.filter(to_plan=world["pro_2027"]).count() == 2
        assert EmailNotification.objects.filter(kind=EmailKind.PLAN_VERSION_MOVE).count() == 2
        assert len(mail.outbox) == 2

    def test_the_customer_cannot_cancel_it_but_may_still_choose_another_plan(self, world):
        move(world)

        with pytest.raises(InvalidTransition, match="moves to its new version, Pro 2027, on 1 December 2026"):
            subscription_scheduled_change_cancel(subscription=world["ada"])
        subscription_change_plan(subscription=world["ada"], plan=world["free"], now=NOW)

        scheduled = SubscriptionPlanChange.objects.filter(subscription=world["ada"])
        assert [(c.to_plan.code, c.version_move_id) for c in scheduled] == [("free", None)]


class TestRefused:
    @pytest.mark.parametrize(
        ("target", "message"),
        [
            ("free", "free is not a newer version of pro"),
            ("pro", "pro is not a newer version of pro"),
            ("inactive", "no longer offered"),
            ("yearly", "a move keeps the interval and the currency"),
            ("dollars", "a move keeps the interval and the currency"),
        ],
    )
    def test_a_target_that_is_not_an_offered_newer_version_billed_alike(self, world, target, message):
        targets = {
            "free": world["free"],
            "pro": world["pro"],
            "inactive": world["pro_2027"],
            "yearly": world["pro_2027"],
            "dollars": world["pro_2027"],
        }
        plan = targets[target]
        if target == "inactive":
            Plan.objects.filter(pk=plan.pk).update(is_active=False)
        if target == "yearly":
            Plan.objects.filter(pk=plan.pk).update(interval="YEAR", price=Decimal("240.00"))
        if target == "dollars":
            Plan.objects.filter(pk=plan.pk).update(currency="USD")
        plan.refresh_from_db()

        with pytest.raises(BillingError, match=message):
            plan_version_move(from_plan=world["pro"], to_plan=plan, by=None, now=NOW)
        with pytest.raises(BillingError, match=message):
            plan_version_move_preview(from_plan=world["pro"], to_plan=plan, now=NOW)

        assert not PlanVersionMove.objects.exists()
        assert not SubscriptionPlanChange.objects.exclude(to_plan=world["free"]).exists()
        assert not EmailNotification.objects.exists()


class TestMonthlyRun:
    def test_the_ending_period_is_billed_at_the_old_price_and_the_next_one_on_the_new_version(self, world):
        ada = world["ada"]
        move(world)
        UsageLogFactory(user=ada.user, tokens=2_000_000, created_at=paris(2026, 11, 20, 12, 0))

        invoice_run(period_end=DECEMBER_1, now=paris(2026, 12, 1, 6, 0), issue_documents=False)

        # November on Pro: 19.00 + 1,000,000 tokens beyond 5,000,000 at 2.00 = 21.00, VAT 4.20, total 25.20.
        november = Invoice.objects.get(subscription=ada, period_end=DECEMBER_1, kind=InvoiceKind.PERIOD)
        assert (november.subtotal, november.tax_amount, november.total) == (
            Decimal("21.00"), Decimal("4.20"), Decimal("25.20"),
        )
        assert [line.description for line in november.lines.order_by("position")][0] == "Forfait Pro, novembre 2026"
        ada.refresh_from_db()
        assert (ada.plan.code, ada.current_period_start) == ("pro-2027", DECEMBER_1)

        # December on Pro 2027: 7,000,000 tokens by the 15th, 2,000,000 beyond at 2.50 = 5.00; 24.00 + 5.00 = 29.00.
        UsageLogFactory(user=ada.user, tokens=7_000_000, created_at=paris(2026, 12, 10, 12, 0))
        upcoming = invoice_upcoming(subscription=ada, now=paris(2026, 12, 15, 12, 0))
        assert (upcoming.subtotal, upcoming.tax_amount, upcoming.total) == (
            Decimal("29.00"), Decimal("5.80"), Decimal("34.80"),
        )

        invoice_run(period_end=datetime.date(2027, 1, 1), now=paris(2027, 1, 1, 6, 0), issue_documents=False)

        december = Invoice.objects.get(subscription=ada, period_end=datetime.date(2027, 1, 1))
        assert [(line.description, line.amount) for line in december.lines.order_by("position")] == [
            ("Forfait Pro 2027, décembre 2026", Decimal("24.00")),
            ("Consommation au-delà des 5\u202f000\u202f000 jetons inclus", Decimal("5.00")),
        ]
        assert (december.subtotal, december.total) == (Decimal("29.00"), Decimal("34.80"))


class TestCustomerSees:
    def test_the_api_and_the_page_show_the_move_without_a_cancel_button(self, world, client):
        move(world)
        ben = world["ben"].user
        client.force_login(ben)

        api = client.get("/api/billing/subscription/").json()
        page = client.get("/billing/").content.decode()
        refused = client.post("/api/billing/subscription/scheduled-change/cancel/")

        assert api["scheduled_change"] == {"plan": "pro-2027", "effective_date": "2026-12-01", "cancellable": False}
        assert "Your Pro plan moves to its new version, Pro 2027, on 1 Dec 2026" in page
        assert "24.00\u00a0EUR a month, excl. VAT" in page
        assert "Cancel the change" not in page
        assert refused.status_code == 409
        assert "cannot be cancelled" in refused.json()["error"]["message"]


class TestAdmin:
    def test_finance_previews_then_moves_the_subscribers(self, world, finance_client, finance):
        pro = world["pro"]

        chosen = start_action(finance_client, Plan, "move_subscribers", [pro])
        previewed = start_action(
            finance_client, Plan, "move_subscribers", [pro], to_plan=world["pro_2027"].pk, preview="1"
        )

        assert chosen.status_code == 200
        assert chosen.context["form"]["to_plan"].value() == world["pro_2027"].pk
        page = previewed.content.decode()
        assert previewed.context["preview"].monthly_revenue_change == Decimal("11.50")
        for figure in ("25.00 EUR", "31.50 EUR", "6.50 EUR", "44.00 EUR", "55.50 EUR", "11.50 EUR", "8,000,000"):
            assert figure in page
        assert "Skipped: another plan change is scheduled" in page
        assert not PlanVersionMove.objects.exists()

        applied = apply_action(
            finance_client, Plan, "move_subscribers", [pro], to_plan=world["pro_2027"].pk,
            previewed_plan=world["pro_2027"].pk,
        )

        assert applied.status_code == 302
        record = PlanVersionMove.objects.get()
        assert (record.created_by, record.scheduled_count) == (finance, 2)
        assert any("2 subscriber(s) of pro move to pro-2027" in text for text in messages_of(applied))

    def test_the_button_is_on_the_pages_of_plans_that_have_a_newer_version(self, world, finance_client):
        old_page = finance_client.get(admin_url(world["pro"], "change")).content.decode()
        new_page = finance_client.get(admin_url(world["pro_2027"], "change")).content.decode()

        assert "Move subscribers to a newer version" in old_page
        assert "Move subscribers to a newer version" not in new_page

    def test_a_version_chosen_after_the_preview_is_previewed_first(self, world, finance_client):
        response = apply_action(
            finance_client, Plan, "move_subscribers", [world["pro"]], to_plan=world["pro_2027"].pk,
            previewed_plan=world["free"].pk,
        )

        assert response.status_code == 200
        assert response.context["preview"] is not None
        assert not PlanVersionMove.objects.exists()

    def test_staff_without_the_finance_permission_cannot_move(self, world, client, django_user_model):
        staff = django_user_model.objects.create_user(email="intern@twinmcp.test", password="x", is_staff=True)
        client.force_login(staff)

        start_action(client, Plan, "move_subscribers", [world["pro"]], to_plan=world["pro_2027"].pk, apply="1",
                     previewed_plan=world["pro_2027"].pk)

        assert not PlanVersionMove.objects.exists()
