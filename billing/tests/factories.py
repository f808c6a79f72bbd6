import datetime
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from accounts.tests.factories import UserFactory
from billing.models import (
    Credit,
    CreditNote,
    CreditType,
    Invoice,
    InvoiceLine,
    LineKind,
    Payment,
    Plan,
    Subscription,
)
from billing.periods import billing_zone

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
