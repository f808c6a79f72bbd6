"""The monthly run, chunked and set-based, bills exactly what one-by-one generation bills.

The same customers are billed twice in one test: by `invoice_run` in small chunks, inside a savepoint
rolled back afterwards, then one subscription at a time with `invoice_generate` and `invoice_finalize`.
Every invoice must come out the same in every column: lines, tax, totals, credits spent, snapshots, dates,
status and number.
"""
import datetime
import gc
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditLog, User, UserProfile
from accounts.tests.factories import UserProfileFactory
from billing.models import CreditApplication, Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from billing.services import (
    credit_grant,
    invoice_finalize,
    invoice_generate,
    invoice_run,
    invoice_run_chunk,
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_pause,
    subscription_scheduled_change_apply,
)
from billing.tests.factories import PlanFactory
from libraries.models import UsageLog
from libraries.tests.factories import UsageLogFactory

pytestmark = pytest.mark.django_db

NOVEMBER_1 = datetime.date(2026, 11, 1)
ISSUED_AT = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=datetime.UTC)


def october(day: int, hour: int = 12) -> datetime.datetime:
    """A moment of October 2026, in UTC."""
    return datetime.datetime(2026, 10, day, hour, tzinfo=datetime.UTC)


@pytest.fixture
def customers() -> list[Subscription]:
    """Fourteen customers covering what a month brings: full months, starts, changes, pauses, cancellations,
    overage, a hard-capped free plan, credits, French, German (reverse charge) and US buyers."""
    pro = PlanFactory(code="pro", name="Pro", price=Decimal("19.00"), included_tokens=5_000_000,
                      overage_price_per_million=Decimal("2.00"))
    team = PlanFactory(code="team", name="Team", price=Decimal("49.00"), included_tokens=20_000_000,
                       overage_price_per_million=Decimal("1.50"))
    free = PlanFactory(code="free", name="Free", price=Decimal("0.00"), included_tokens=100_000,
                       overage_price_per_million=Decimal("0.00"))
    buyers = [
        {"country": "FR", "language": "fr"},
        {"country": "FR", "language": "fr", "company_name": "Lovelace SAS", "vat_number": "FR40303265045"},
        {"country": "DE", "language": "en", "company_name": "Analytische GmbH", "vat_number": "DE129273398"},
        {"country": "US", "language": "en", "company_name": "Analytical Engines Inc."},
    ]
    subscriptions = []
    for index in range(14):
        user = UserProfileFactory(**buyers[index % len(buyers)]).user
        started = october(1, 0) if index % 3 else october(3 + index)  # some start during October
        plan = free if index == 13 else (team if index % 5 == 0 else pro)
        subscriptions.append(subscription_create(user=user, plan=plan, now=started))
    subscription_change_plan(subscription=subscriptions[1], plan=team, now=october(16))
    subscription_pause(subscription=subscriptions[2], now=october(20))
    subscription_cancel(subscription=subscriptions[4], at_period_end=True, now=october(10))
    subscription_cancel(subscription=subscriptions[7], at_period_end=False, now=october(25, 9))
    credit_grant(user=subscriptions[5].user, type="PROMOTIONAL", amount=Decimal("10.00"), reason="Welcome",
                 now=october(1))
    credit_grant(user=subscriptions[8].user, type="PROMOTIONAL", amount=Decimal("500.00"), reason="Partner",
                 now=october(1))
    for index, subscription in enumerate(subscriptions):
        for day in (2, 12, 26, 31):
            UsageLogFactory(user=subscription.user, tokens=(index + 1) * 1_234_567, created_at=october(day, 23))
    return subscriptions


def columns(row, *, skip: set[str]) -> dict:
    """Every column of `row` but those named in `skip`, by name."""
    return {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields if field.name not in skip}


def billed() -> dict[int, dict]:
    """Every invoice of the period, every column of it, of its lines and of the credit spent on it, by
    subscription: all but the rows' own ids and the invoice's `created_at` (when the row was written)."""
    return {
        invoice.subscription_id: {
            **columns(invoice, skip={"id", "created_at"}),
            "buyer": invoice.billing_details["buyer"],
            "lines": [columns(line, skip={"id", "invoice"}) for line in invoice.lines.order_by("position")],
            "credit_applications": [
                columns(application, skip={"id", "invoice"})
                for application in CreditApplication.objects.filter(invoice=invoice).order_by("credit_id")
            ],
        }
        for invoice in Invoice.objects.filter(period_end=NOVEMBER_1).order_by("pk")
    }


def test_the_chunked_run_bills_what_one_by_one_generation_bills_to_the_cent(customers):
    with transaction.atomic():
        summary = invoice_run(period_end=NOVEMBER_1, chunk_size=4, issue_documents=False, now=ISSUED_AT)
        by_run = billed()
        transaction.set_rollback(True)

    for subscription in sorted(customers, key=lambda s: s.pk):
        invoice = invoice_generate(subscription=Subscription.objects.get(pk=subscription.pk), period="2026-10")
        if invoice is not None:
            invoice_finalize(invoice=invoice, now=ISSUED_AT)
    one_by_one = billed()

    assert by_run == one_by_one
    assert summary.created == len(by_run) == 13  # the free plan within its quota owes nothing
    assert summary.total_billed == sum(row["total"] for row in one_by_one.values())
    statuses = {row["status"] for row in by_run.values()}
    assert statuses == {InvoiceStatus.SENT, InvoiceStatus.PAID}  # the partner credit pays one in full
    assert any(row["reverse_charge"] for row in by_run.values())  # German companies under reverse charge
    assert sorted(row["number"] for row in by_run.values()) == [f"TMCP-2026-{n:06d}" for n in range(1, 14)]
    assert sum(len(row["credit_applications"]) for row in by_run.values()) == 2
    assert all(row["issue_details"]["seller"] and row["buyer"]["name"] and row["issue_date"] for row in by_run.values())


def test_the_run_rolls_expires_and_audits_each_subscription_once(customers):
    summary = invoice_run(period_end=NOVEMBER_1, chunk_size=4, issue_documents=False, now=ISSUED_AT)

    subscriptions = {s.pk: s for s in Subscription.objects.all()}
    assert subscriptions[customers[4].pk].status == SubscriptionStatus.EXPIRED
    assert subscriptions[customers[4].pk].ended_at == datetime.datetime(2026, 10, 31, 23, tzinfo=datetime.UTC)
    assert subscriptions[customers[7].pk].status == SubscriptionStatus.CANCELLED
    renewed = [s for s in subscriptions.values() if s.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED)]
    assert len(renewed) == 12
    assert {(s.current_period_start, s.current_period_end) for s in renewed} == {
        (NOVEMBER_1, datetime.date(2026, 12, 1))
    }
    assert subscriptions[customers[2].pk].pauses.get().end_date is None  # still paused, into November
    actions = list(AuditLog.objects.filter(action__in=["invoice.finalize", "subscription.renew",
                                                       "subscription.expire"]).values_list("action", "object_id"))
    assert sorted(a for a, _ in actions) == ["invoice.finalize"] * 13 + ["subscription.expire"] + [
        "subscription.renew"] * 12
    assert {object_id for action, object_id in actions if action == "invoice.finalize"} == {
        str(pk) for pk in summary.invoice_ids
    }


def test_a_paused_subscription_cancelled_at_period_end_closes_its_pause_when_it_expires(customers):
    paused = customers[2]
    subscription_cancel(subscription=paused, at_period_end=True, now=october(22))

    invoice_run(period_end=NOVEMBER_1, chunk_size=4, issue_documents=False, now=ISSUED_AT)

    paused.refresh_from_db()
    assert paused.status == SubscriptionStatus.EXPIRED
    assert paused.pauses.get().end_date == NOVEMBER_1


def test_usage_is_summed_by_one_query_per_chunk_however_many_plans_a_period_had(customers):
    pro, team = customers[2].plan, customers[0].plan
    # Besides the fixture's upgrade: a downgrade applied at once by finance, and a way there and back.
    subscription_change_plan(subscription=customers[5], plan=pro, now=october(10))
    subscription_scheduled_change_apply(subscription=customers[5], now=october(12))
    subscription_change_plan(subscription=customers[3], plan=team, now=october(8))
    subscription_change_plan(subscription=customers[3], plan=pro, now=october(9))
    subscription_scheduled_change_apply(subscription=customers[3], now=october(20))
    usage_table = UsageLog._meta.db_table

    with CaptureQueriesContext(connection) as queries:
        invoice_run(period_end=NOVEMBER_1, chunk_size=4, issue_documents=False, now=ISSUED_AT)

    assert len([query for query in queries if usage_table in query["sql"]]) == 4  # 14 subscriptions, 4 chunks
    # customers[3], from 6 October: Pro 6 → 7, Team 8 → 19, Pro 20 → 31 of 26 days. Its 4,938,268 tokens of the
    # 13th are within Team's 20M × 12 / 26; those of the 27th exceed Pro's 5M × 12 / 26 = 2,307,692 by 2,630,576.
    usage_lines = Invoice.objects.get(subscription=customers[3]).lines.filter(kind="USAGE")
    assert [(line.quantity, line.unit_price, line.amount) for line in usage_lines] == [
        (Decimal("2630576"), Decimal("2.00"), Decimal("5.26"))
    ]


def test_a_chunk_leaves_nothing_of_its_own_behind_for_a_later_collection(customers):
    """The run holds Python's cyclic collector off during a chunk: what the chunk made is freed as it ends, so a
    worker's memory stays that of one chunk however many it runs."""
    ids = [subscription.pk for subscription in customers]
    gc.collect()

    invoice_run_chunk(subscription_ids=ids, period_end=NOVEMBER_1, now=ISSUED_AT, issue_documents=False)

    issued = set(Invoice.objects.filter(subscription_id__in=ids, period_end=NOVEMBER_1).values_list("pk", flat=True))
    assert len(issued) == 13
    # type(), not isinstance(): the process may hold dead weak proxies, which isinstance() would dereference.
    assert not [obj for obj in gc.get_objects() if type(obj) is Invoice and obj.pk in issued]


def test_a_chunk_reads_its_subscriptions_and_customers_as_rows_not_as_model_instances(customers):
    """Plain rows (`SubscriptionRow`): no Subscription, User or UserProfile instance per subscription priced, only
    for the one that expires, through the service written for instances."""
    made = Counter()

    def count(sender, **kwargs):
        made[sender] += 1

    post_init.connect(count, weak=False, dispatch_uid="count-instances")
    try:
        summary = invoice_run_chunk(subscription_ids=[s.pk for s in customers], period_end=NOVEMBER_1, now=ISSUED_AT,
                                    issue_documents=False)
    finally:
        post_init.disconnect(dispatch_uid="count-instances")

    assert summary.created == 13
    assert made[Subscription] == 1  # customers[4], cancelled at period end, expires
    assert made[User] == made[UserProfile] == 0
