import datetime
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from accounts.tests.factories import UserFactory, make_customer
from billing.models import (
    BuyerSnapshot,
    Credit,
    CreditNote,
    CreditType,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    LineKind,
    Payment,
    Plan,
    Subscription,
    TaxCase,
)
from billing.periods import billing_zone
from billing.services import invoice_run
from libraries.tests.factories import UsageLogFactory

# The billing time zone (settings.BILLING_TIME_ZONE, Paris) in which the tests write their dates and times.
PARIS = billing_zone()


def paris(*args) -> datetime.datetime:
    """A moment of the billing time zone: paris(2026, 11, 2, 9, 0) is 9:00 on 2 November 2026 in Paris."""
    return datetime.datetime(*args, tzinfo=PARIS)


class PlanFactory(DjangoModelFactory):
    class Meta:
        model = Plan
        django_get_or_create = ("code",)

    code = "pro"
    name = "Pro"
    price = Decimal("19.00")
    included_tokens = 5_000_000
    overage_price_per_million = Decimal("2.00")
    requests_per_minute = 60


class SubscriptionFactory(DjangoModelFactory):
    class Meta:
        model = Subscription

    user = factory.SubFactory(UserFactory)
    plan = factory.SubFactory(PlanFactory)
    current_period_start = datetime.date(2026, 10, 1)
    current_period_end = datetime.date(2026, 11, 1)


class InvoiceLineFactory(DjangoModelFactory):
    class Meta:
        model = InvoiceLine

    kind = LineKind.SUBSCRIPTION
    description = "Pro plan, 2026-10"
    unit_price = factory.SelfAttribute("amount")
    amount = Decimal("19.00")
    position = 0


class BuyerSnapshotFactory(DjangoModelFactory):
    """A buyer as an invoice states them, kept outside any profile version (as invoices issued before snapshots)."""

    class Meta:
        model = BuyerSnapshot

    user = factory.SubFactory(UserFactory)
    profile_version = 0
    digest = factory.Sequence(lambda n: f"{n:064x}")
    details = factory.LazyAttribute(lambda o: {"name": o.user.email, "email": o.user.email, "country": o.country})
    country = "FR"
    tax_case = TaxCase.FRENCH
    language = "en"


class InvoiceFactory(DjangoModelFactory):
    """A DRAFT whose one line makes up its subtotal, so finalising it prices the same figures."""

    class Meta:
        model = Invoice
        skip_postgeneration_save = True

    subscription = factory.SubFactory(SubscriptionFactory)
    user = factory.SelfAttribute("subscription.user")
    period_start = factory.SelfAttribute("subscription.current_period_start")
    period_end = factory.SelfAttribute("subscription.current_period_end")
    subtotal = Decimal("19.00")
    tax_rate = Decimal("0.2000")
    tax_amount = Decimal("3.80")
    total = Decimal("22.80")
    amount_due = Decimal("22.80")
    line = factory.RelatedFactory(InvoiceLineFactory, "invoice", amount=factory.SelfAttribute("..subtotal"))


class CreditNoteFactory(DjangoModelFactory):
    """A full credit note of its invoice: the invoice's amounts, numbered in the AV sequence of 2026."""

    class Meta:
        model = CreditNote

    invoice = factory.SubFactory(InvoiceFactory)
    number = factory.Sequence(lambda n: f"AV-2026-{n + 1:06d}")
    subtotal = factory.SelfAttribute("invoice.subtotal")
    tax_rate = factory.SelfAttribute("invoice.tax_rate")
    tax_amount = factory.SelfAttribute("invoice.tax_amount")
    amount = factory.LazyAttribute(lambda credit_note: credit_note.subtotal + credit_note.tax_amount)
    reason = "Billed twice"
    issue_date = datetime.date(2026, 11, 3)


class PaymentFactory(DjangoModelFactory):
    class Meta:
        model = Payment

    invoice = factory.SubFactory(InvoiceFactory)
    user = factory.SelfAttribute("invoice.user")
    amount = Decimal("22.80")
    idempotency_key = factory.Sequence(lambda n: f"payment-{n}")


class CreditFactory(DjangoModelFactory):
    class Meta:
        model = Credit

    user = factory.SubFactory(UserFactory)
    type = CreditType.PROMOTIONAL
    amount = Decimal("10.00")
    remaining_amount = factory.SelfAttribute("amount")
    reason = "Welcome offer"


def pro_customer(
    *, tokens: int = 6_500_000, period_start=datetime.date(2026, 10, 1), period_end=datetime.date(2026, 11, 1),
    **profile,
):
    """A customer (`make_customer(**profile)`) on Pro (19.00, 5,000,000 tokens included, 2.00 per million) in the
    period from `period_start`, who used `tokens` on its 12th day: 6,500,000 tokens bill 1,500,000 of overage, 3.00,
    a subtotal of 22.00."""
    user = make_customer(**profile)
    SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=period_start, current_period_end=period_end)
    UsageLogFactory(user=user, tokens=tokens, created_at=paris(period_start.year, period_start.month, 12, 15))
    return user


def period_invoice_of(user, *, period_end=datetime.date(2026, 11, 1), now=None) -> Invoice:
    """The monthly run for `user` alone, at 2:00 on the day its period ends (or `now`): their period invoice."""
    now = now or paris(period_end.year, period_end.month, period_end.day, 2, 0)
    invoice_run(period_end=period_end, customer=user, now=now)
    return Invoice.objects.get(user=user, kind=InvoiceKind.PERIOD, period_end=period_end)
