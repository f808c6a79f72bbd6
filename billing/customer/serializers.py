"""Serializers of the billing API. Money is a string with two decimals, its currency beside it."""
import functools
from collections.abc import Callable, Iterable

from django.core.validators import ProhibitNullCharactersValidator
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse
from rest_framework.settings import api_settings
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from billing.documents.data import buyer_language
from billing.models import (
    BillingAlert,
    CouponDuration,
    Credit,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    Payment,
    Plan,
    Subscription,
)
from billing.periods import PERIOD_PATTERN, parse_month
from billing.selectors import (
    USAGE_GROUPINGS,
    credit_note_of,
    invoice_credit_notes,
    plans_offered,
    scheduled_plan_change,
)
from billing.subscriptions.coupons import periods_left, running_coupon

MONEY = {"max_digits": 12, "decimal_places": 2}


# Outputs

class UsageTierSerializer(serializers.Serializer):
    up_to = serializers.IntegerField(
        allow_null=True, help_text="The last token of the tier, counted beyond the included ones; null: no end."
    )
    price_per_million = serializers.DecimalField(max_digits=12, decimal_places=4)


class PlanSerializer(serializers.ModelSerializer):
    usage_tiers = UsageTierSerializer(
        many=True, read_only=True,
        help_text="Graduated and volume pricing: the tiers of the tokens beyond the included ones, in order.",
    )

    class Meta:
        model = Plan
        fields = ["code", "name", "price", "currency", "interval", "included_tokens", "overage_price_per_million",
                  "requests_per_minute", "trial_days", "usage_pricing", "usage_tiers", "package_tokens",
                  "package_price"]
        read_only_fields = fields


class ScheduledChangeSerializer(serializers.Serializer):
    plan = serializers.CharField(source="to_plan.code", help_text="Code of the plan to come.")
    effective_date = serializers.DateField(help_text="The first day on it: the end of the current period.")
    cancellable = serializers.SerializerMethodField(
        help_text="False for the move of the plan to its new version (a price change): the customer may change "
                  "plan or cancel instead."
    )

    def get_cancellable(self, change) -> bool:
        return change.version_move_id is None


class CouponRedemptionSerializer(serializers.Serializer):
    """A coupon on the subscription: what it takes off each period invoice before tax, and for how long."""

    code = serializers.CharField(source="coupon.code")
    name = serializers.CharField(source="coupon.name")
    percent_off = serializers.DecimalField(
        max_digits=5, decimal_places=2, source="coupon.percent_off", allow_null=True,
        help_text="The percentage taken off the invoice's lines, or null for an amount.",
    )
    amount_off = serializers.DecimalField(
        **MONEY, source="coupon.amount_off", allow_null=True,
        help_text="The amount taken off (at most the lines' sum), or null for a percentage.",
    )
    currency = serializers.CharField(source="coupon.currency", help_text="Of `amount_off`; empty for a percentage.")
    duration = serializers.ChoiceField(choices=CouponDuration.choices, source="coupon.duration")
    duration_months = serializers.IntegerField(
        source="coupon.duration_months", allow_null=True, help_text="For `repeating`: the months it lasts."
    )
    redeemed_at = serializers.DateTimeField()
    periods_applied = serializers.IntegerField(help_text="Period invoices it has discounted so far.")
    periods_left = serializers.SerializerMethodField(
        help_text="Period invoices it still discounts (a yearly period counts 12 months); null: forever."
    )

    def get_periods_left(self, redemption) -> int | None:
        return periods_left(redemption, plan=redemption.subscription.plan)


class SubscriptionSerializer(serializers.ModelSerializer):
    plan = PlanSerializer()
    scheduled_change = serializers.SerializerMethodField(
        help_text="A downgrade waiting for the end of the period, or the move of the plan to its new version, or null."
    )
    trial_end = serializers.DateField(
        read_only=True, allow_null=True,
        help_text="With a free trial: its end, the first day billed (the trial's days are not billed); else null.",
    )
    coupon = serializers.SerializerMethodField(
        help_text="The coupon that discounts the next period invoices, or null."
    )

    class Meta:
        model = Subscription
        fields = ["id", "plan", "status", "current_period_start", "current_period_end", "cancel_at_period_end",
                  "started_at", "paused_at", "cancelled_at", "ended_at", "scheduled_change", "trial_end", "coupon"]
        read_only_fields = fields

    @extend_schema_field(ScheduledChangeSerializer(allow_null=True))
    def get_scheduled_change(self, subscription: Subscription) -> dict | None:
        change = scheduled_plan_change(subscription)
        return ScheduledChangeSerializer(change).data if change is not None else None

    @extend_schema_field(CouponRedemptionSerializer(allow_null=True))
    def get_coupon(self, subscription: Subscription) -> dict | None:
        redemption = running_coupon(subscription)
        if redemption is None:
            return None
        redemption.subscription = subscription  # its plan, already read
        return CouponRedemptionSerializer(redemption).data


class PlanChangeSerializer(SubscriptionSerializer):
    """The subscription after a plan change, and when the new plan applies."""

    effective = serializers.SerializerMethodField(
        help_text="`immediately` for an upgrade; `period_end` for a downgrade, scheduled (see `scheduled_change`)."
    )

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "effective"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["immediately", "period_end"]))
    def get_effective(self, subscription: Subscription) -> str:
        return "period_end" if scheduled_plan_change(subscription) is not None else "immediately"


class InvoiceSerializer(serializers.ModelSerializer):
    """An invoice as listed."""

    url = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = ["id", "number", "kind", "status", "currency", "period_start", "period_end", "issue_date", "due_date",
                  "subtotal", "tax_rate", "tax_amount", "total", "credit_applied", "amount_paid", "amount_due",
                  "sent_at", "paid_at", "cancelled_at", "url", "pdf_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, invoice: Invoice) -> str:
        return reverse("billing-api:invoice-detail", kwargs={"pk": invoice.pk}, request=self.context.get("request"))

    @extend_schema_field(OpenApiTypes.URI)
    def get_pdf_url(self, invoice: Invoice) -> str:
        return reverse("billing-api:invoice-pdf", kwargs={"pk": invoice.pk}, request=self.context.get("request"))


# The columns of a listed invoice: every field of InvoiceSerializer but its two URLs.
INVOICE_LIST_COLUMNS = tuple(name for name in InvoiceSerializer.Meta.fields if name not in ("url", "pdf_url"))


def _decimal_text(value) -> str:
    return format(value, "f")


@functools.cache
def _invoice_list_writers(zone) -> tuple[tuple[str, Callable], ...]:
    """How InvoiceSerializer writes each column in time zone `zone`, taken from its own fields once. Its date-times
    are pinned to `zone` (DRF would look the current zone up again for each one). A decimal column already holds
    the field's places, which DRF's rounding to them leaves as they are: it is written as it is read."""
    fields = InvoiceSerializer().fields
    writers = []
    for name in INVOICE_LIST_COLUMNS:
        field = fields[name]
        if isinstance(field, serializers.DateTimeField):
            field.timezone = zone
        plain = isinstance(field, serializers.DecimalField) and (
            field.decimal_places == Invoice._meta.get_field(name).decimal_places
            and getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
            and not field.localize and not field.normalize_output
        )
        writers.append((name, _decimal_text if plain else field.to_representation))
    return tuple(writers)


def _pk_url(view_name: str, request) -> Callable[[int], str]:
    """`reverse(view_name, kwargs={"pk": pk}, request=request)` for any pk, reversed once: the pk is the only
    part of the URL that changes."""
    marker = "987654321"
    head, tail = reverse(view_name, kwargs={"pk": marker}, request=request).split(f"/{marker}/")
    return lambda pk: f"{head}/{pk}/{tail}"


def invoice_list_rows(rows: Iterable[dict], *, request) -> list[dict]:
    """What `InvoiceSerializer(invoices, many=True).data` writes, from `.values(*INVOICE_LIST_COLUMNS)` rows: no
    Invoice instance per row, no URL reversed per row."""
    writers = _invoice_list_writers(serializers.DateTimeField().default_timezone())
    url, pdf_url = _pk_url("billing-api:invoice-detail", request), _pk_url("billing-api:invoice-pdf", request)
    listed = []
    for row in rows:
        invoice = {name: None if row[name] is None else write(row[name]) for name, write in writers}
        invoice["url"], invoice["pdf_url"] = url(row["id"]), pdf_url(row["id"])
        listed.append(invoice)
    return listed


class InvoiceLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        # A usage line: `quantity` tokens at `unit_price` per `price_base_quantity` (1,000,000) of them.
        fields = ["kind", "description", "quantity", "unit_price", "price_base_quantity", "amount"]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)

    class Meta:
        model = Payment
        fields = ["id", "invoice", "invoice_number", "amount", "refunded_amount", "currency", "status", "method",
                  "failure_reason", "created_at", "processed_at"]
        read_only_fields = fields


class InvoicePaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "amount", "refunded_amount", "currency", "status", "method", "created_at", "processed_at"]
        read_only_fields = fields


class CreditNoteLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditNoteLine
        fields = ["kind", "description", "quantity", "unit_price", "price_base_quantity", "amount"]
        read_only_fields = fields


class CreditNoteSerializer(serializers.ModelSerializer):
    reason_label = serializers.SerializerMethodField()
    lines = CreditNoteLineSerializer(many=True)

    class Meta:
        model = CreditNote
        # `amount` is what it credits VAT included: `subtotal` before tax plus `tax_amount`.
        fields = ["number", "kind", "subtotal", "tax_amount", "amount", "reason_code", "reason", "reason_label",
                  "issue_date", "lines"]
        read_only_fields = fields

    def get_reason_label(self, credit_note: CreditNote) -> str:
        """The reason as its documents print it: the label in the buyer's language, then the free-text detail."""
        with translation.override(buyer_language(credit_note.invoice)):
            return credit_note.reason_text()


class InvoiceDetailSerializer(InvoiceSerializer):
    lines = InvoiceLineSerializer(many=True)
    payments = InvoicePaymentSerializer(many=True)
    credit_note = serializers.SerializerMethodField()
    credit_notes = serializers.SerializerMethodField()

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, "credited", "reverse_charge", "tax_mention", "lines", "payments",
                  "credit_note", "credit_notes"]
        read_only_fields = fields

    @extend_schema_field(CreditNoteSerializer(allow_null=True))
    def get_credit_note(self, invoice: Invoice) -> dict | None:
        credit_note = credit_note_of(invoice)
        return CreditNoteSerializer(credit_note).data if credit_note is not None else None

    @extend_schema_field(CreditNoteSerializer(many=True))
    def get_credit_notes(self, invoice: Invoice) -> list[dict]:
        """Every credit note of the invoice, full or partial, oldest first."""
        return CreditNoteSerializer(invoice_credit_notes(invoice), many=True).data


class DraftLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=18, decimal_places=6)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=4)
    price_base_quantity = serializers.IntegerField()
    amount = serializers.DecimalField(**MONEY)


class UpcomingInvoiceSerializer(serializers.Serializer):
    """The invoice of the current period so far, priced as if it ended now; not stored."""

    period_start = serializers.DateField(source="period.start")
    period_end = serializers.DateField(source="period.end", help_text="Excluded.")
    currency = serializers.CharField()
    tokens_used = serializers.IntegerField()
    included_tokens = serializers.IntegerField()
    lines = DraftLineSerializer(many=True)
    subtotal = serializers.DecimalField(**MONEY)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=4)
    tax_amount = serializers.DecimalField(**MONEY)
    total = serializers.DecimalField(**MONEY)
    credit_applied = serializers.DecimalField(**MONEY)
    amount_due = serializers.DecimalField(**MONEY)
    reverse_charge = serializers.BooleanField()
    tax_mention = serializers.CharField()


class PlanChangePreviewSerializer(serializers.Serializer):
    """The figures of the plan page's confirmation: the current period's invoice so far with the change."""

    plan = serializers.CharField(source="new_plan.code")
    effective = serializers.SerializerMethodField(help_text="`immediately` (an upgrade) or `period_end`.")
    effective_date = serializers.DateField(help_text="The first day on the new plan.")
    period_start = serializers.DateField(source="period.start")
    period_end = serializers.DateField(source="period.end", help_text="Excluded.")
    currency = serializers.CharField(source="invoice.currency")
    tokens_used = serializers.IntegerField(source="invoice.tokens_used", help_text="This period's usage so far.")
    lines = DraftLineSerializer(many=True, source="invoice.lines")
    subtotal = serializers.DecimalField(**MONEY, source="invoice.subtotal")
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=4, source="invoice.tax_rate")
    tax_amount = serializers.DecimalField(**MONEY, source="invoice.tax_amount")
    total = serializers.DecimalField(**MONEY, source="invoice.total")
    total_without_change = serializers.DecimalField(**MONEY, source="invoice_without_change.total")

    @extend_schema_field(serializers.ChoiceField(choices=["immediately", "period_end"]))
    def get_effective(self, preview) -> str:
        return "period_end" if preview.is_scheduled else "immediately"


class CreditSerializer(serializers.ModelSerializer):
    class Meta:
        model = Credit
        fields = ["id", "type", "amount", "remaining_amount", "currency", "reason", "expires_at", "created_at"]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillingAlert
        fields = ["id", "type", "occasion", "message", "created_at", "read_at"]
        read_only_fields = fields


class DailyUsageSerializer(serializers.Serializer):
    date = serializers.DateField()
    tokens = serializers.IntegerField()


class UsageGroupSerializer(serializers.Serializer):
    key = serializers.CharField(
        allow_null=True, help_text="The day (`YYYY-MM-DD`), the API key's prefix or the library's slug; null for "
        "calls made without a key (in the browser) or without a library.",
    )
    label = serializers.CharField(help_text="The day, the key's name or the library's name.")
    tokens = serializers.IntegerField()
    calls = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    """The period's usage against the quota (`summary`, a UsageSummary) and its breakdown (a UsageBreakdown)."""

    period_start = serializers.DateField(source="summary.period.start")
    period_end = serializers.DateField(source="summary.period.end", help_text="Excluded.")
    plan = serializers.CharField(source="summary.plan.code", allow_null=True, default=None,
                                 help_text="Code of the plan in force; null without a subscription.")
    tokens_used = serializers.IntegerField(source="summary.tokens_used")
    included_tokens = serializers.IntegerField(source="summary.included_tokens", allow_null=True)
    percent_used = serializers.DecimalField(source="summary.percent_used", max_digits=None, decimal_places=2,
                                            allow_null=True, help_text="Of the included tokens; null without a quota.")
    daily = DailyUsageSerializer(source="summary.daily", many=True,
                                 help_text="Tokens per day (BILLING_TIME_ZONE), up to today.")
    group_by = serializers.ChoiceField(source="breakdown.group_by", choices=USAGE_GROUPINGS)
    groups = UsageGroupSerializer(
        source="breakdown.groups", many=True,
        help_text="The period's tokens and calls by `group_by`: every day up to today (oldest first), or each API "
        "key or library (most tokens first).",
    )


# Inputs

class PlanCodeField(serializers.SlugRelatedField):
    """A plan's code, looked up only once it is text PostgreSQL can compare (a NUL character was a 500)."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            ProhibitNullCharactersValidator()(data)
            ProhibitSurrogateCharactersValidator()(data)
        return super().to_internal_value(data)


class PlanChoiceSerializer(serializers.Serializer):
    plan = PlanCodeField(slug_field="code", queryset=plans_offered(),
                         help_text="Code of a plan offered (GET /api/billing/plans/).")


class CouponCodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40, help_text="The coupon's code, in any case.")


class SubscriptionCancelInputSerializer(serializers.Serializer):
    at_period_end = serializers.BooleanField(
        default=True,
        help_text="True (default): the subscription runs to the end of the period, then expires. "
        "False: it ends now; the days served are still invoiced.",
    )


class UsageQuerySerializer(serializers.Serializer):
    period = serializers.RegexField(
        PERIOD_PATTERN.pattern, required=False,
        help_text="A month `YYYY-MM`: usage of the billing period holding it. Default: the current period.",
    )
    group_by = serializers.ChoiceField(
        choices=USAGE_GROUPINGS, default="day",
        help_text="How `groups` splits the period's usage: by `day` (BILLING_TIME_ZONE), `api_key` or `library`.",
    )

    def validate_period(self, value: str):
        if not 1900 <= int(value[:4]) <= 9998:
            raise serializers.ValidationError("Use a month between 1900-01 and 9998-12.")
        return parse_month(value)
