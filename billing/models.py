from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.fields import EncryptedJSONField

MONEY = {"max_digits": 12, "decimal_places": 2}
# Unit prices (a price per million tokens, say) keep four places; amounts are rounded to the cent.
UNIT_PRICE = {"max_digits": 12, "decimal_places": 4}


def _non_negative(*fields: str, prefix: str) -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(condition=Q(**{f"{field}__gte": 0}), name=f"{prefix}_{field}_non_negative")
        for field in fields
    ]


class Interval(models.TextChoices):
    MONTH = "MONTH", _("Monthly")
    YEAR = "YEAR", _("Yearly")


class Plan(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    price = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="EUR")
    interval = models.CharField(max_length=5, choices=Interval.choices, default=Interval.MONTH)
    included_tokens = models.PositiveBigIntegerField()
    overage_price_per_million = models.DecimalField(
        **UNIT_PRICE, help_text="0 means a hard cap: calls beyond the quota are refused with 429."
    )
    requests_per_minute = models.PositiveIntegerField(default=60)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["price", "code"]
        constraints = _non_negative("price", "overage_price_per_million", prefix="plan")

    def __str__(self):
        return self.name

    @property
    def has_hard_cap(self) -> bool:
        return self.overage_price_per_million == 0


class SubscriptionStatus(models.TextChoices):
    # In context: French agrees these with "abonnement", an invoice's "Cancelled" with "facture".
    ACTIVE = "ACTIVE", pgettext_lazy("subscription status", "Active")
    PAUSED = "PAUSED", pgettext_lazy("subscription status", "Paused")
    CANCELLED = "CANCELLED", pgettext_lazy("subscription status", "Cancelled")
    EXPIRED = "EXPIRED", pgettext_lazy("subscription status", "Expired")


LIVE_SUBSCRIPTION_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED)


class Subscription(models.Model):
    """A customer's plan. Its current period is a half-open date pair in BILLING_TIME_ZONE."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=10, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE)
    current_period_start = models.DateField()
    current_period_end = models.DateField()
    cancel_at_period_end = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    paused_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(current_period_end__gt=F("current_period_start")), name="subscription_period_not_empty"
            ),
            # A customer has at most one subscription being billed at a time.
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status__in=LIVE_SUBSCRIPTION_STATUSES),
                name="subscription_one_live_per_user",
            ),
        ]
        indexes = [models.Index(fields=["status", "current_period_end"], name="subscription_due_idx")]

    def __str__(self):
        return f"{self.user} on {self.plan}"


class SubscriptionPlanChange(models.Model):
    """History of plan changes: `to_plan` is in force from `effective_date` (a day in BILLING_TIME_ZONE)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="plan_changes")
    from_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    to_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    effective_date = models.DateField()
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["subscription", "changed_at", "id"]

    def __str__(self):
        return f"{self.from_plan} → {self.to_plan} from {self.effective_date}"


class SubscriptionPause(models.Model):
    """Days [start_date, end_date) on which a subscription was paused and pays no fee; open while paused."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="pauses")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["subscription", "start_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")), name="pause_end_after_start"
            ),
            models.UniqueConstraint(
                fields=["subscription"], condition=Q(end_date__isnull=True), name="pause_one_open_per_subscription"
            ),
        ]

    def __str__(self):
        return f"paused {self.start_date} → {self.end_date or '…'}"


class InvoiceStatus(models.TextChoices):
    DRAFT = "DRAFT", _("Draft")
    SENT = "SENT", _("Sent")
    PAID = "PAID", _("Paid")
    OVERDUE = "OVERDUE", _("Overdue")
    CANCELLED = "CANCELLED", _("Cancelled")


ISSUED_INVOICE_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.PAID, InvoiceStatus.OVERDUE)


class Invoice(models.Model):
    number = models.CharField(max_length=20, unique=True, null=True, blank=True, help_text="Null while DRAFT.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    status = models.CharField(max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    currency = models.CharField(max_length=3, default="EUR")
    period_start = models.DateField()
    period_end = models.DateField()
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    subtotal = models.DecimalField(**MONEY, default=0)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4, default=0)
    tax_amount = models.DecimalField(**MONEY, default=0)
    total = models.DecimalField(**MONEY, default=0)
    credit_applied = models.DecimalField(**MONEY, default=0)
    amount_paid = models.DecimalField(**MONEY, default=0)
    amount_due = models.DecimalField(**MONEY, default=0)
    reverse_charge = models.BooleanField(default=False)
    tax_mention = models.CharField(max_length=200, blank=True, help_text="Reverse-charge or exemption mention.")
    billing_details = EncryptedJSONField(
        default=dict, blank=True, help_text="Buyer and seller as they were at issue; encrypted, it holds personal data."
    )
    buyer_country = models.CharField(
        max_length=2, blank=True, help_text="The buyer's country in the snapshot, for tax reports and filters."
    )
    pdf = models.FileField(upload_to="invoices/%Y/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        constraints = [
            *_non_negative(
                "subtotal", "tax_rate", "tax_amount", "total", "credit_applied", "amount_paid", "amount_due",
                prefix="invoice",
            ),
            models.UniqueConstraint(
                fields=["subscription", "period_start"],
                condition=~Q(status=InvoiceStatus.CANCELLED),
                name="invoice_one_per_subscription_period",
            ),
            models.CheckConstraint(condition=Q(period_end__gt=F("period_start")), name="invoice_period_not_empty"),
            # Rounded to the cent so that SQLite, which adds decimals as floats, checks the same thing as PostgreSQL.
            models.CheckConstraint(
                condition=Q(total=Round(F("subtotal") + F("tax_amount"), 2)), name="invoice_total_is_sum"
            ),
            models.CheckConstraint(
                condition=Q(amount_due=Round(F("total") - F("credit_applied") - F("amount_paid"), 2)),
                name="invoice_amount_due_is_balance",
            ),
            # A number exists exactly when the invoice was issued (a cancelled draft never had one).
            models.CheckConstraint(
                condition=Q(status=InvoiceStatus.DRAFT, number__isnull=True)
                | Q(status__in=ISSUED_INVOICE_STATUSES, number__isnull=False)
                | Q(status=InvoiceStatus.CANCELLED),
                name="invoice_number_when_issued",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "status"], name="invoice_user_status_idx"),
            models.Index(fields=["status", "due_date"], name="invoice_status_due_idx"),
        ]

    def __str__(self):
        return self.number or f"Draft #{self.pk}"

    @property
    def is_issued(self) -> bool:
        return self.number is not None


class LineKind(models.TextChoices):
    SUBSCRIPTION = "SUBSCRIPTION", _("Subscription")
    USAGE = "USAGE", _("Usage")
    PRORATION = "PRORATION", _("Proration")
    ADJUSTMENT = "ADJUSTMENT", _("Adjustment")


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=12, choices=LineKind.choices)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=18, decimal_places=6, default=1)
    unit_price = models.DecimalField(**UNIT_PRICE)
    # How many units `unit_price` is the price of (EN 16931 BT-149): a USAGE line bills tokens at a price per
    # million, so its quantity stays a whole number of tokens. amount = quantity × unit_price / base, to the cent.
    price_base_quantity = models.PositiveIntegerField(default=1)
    amount = models.DecimalField(**MONEY)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position_unique"),
            models.CheckConstraint(condition=Q(price_base_quantity__gt=0), name="invoice_line_price_base_positive"),
        ]

    def __str__(self):
        return self.description


class CreditNoteReason(models.TextChoices):
    BILLING_ERROR = "BILLING_ERROR", _("Billing error")
    DUPLICATE = "DUPLICATE", _("Duplicate invoice")
    NOT_DELIVERED = "NOT_DELIVERED", _("Service not delivered as agreed")
    COMMERCIAL_GESTURE = "COMMERCIAL_GESTURE", _("Commercial gesture")
    CUSTOMER_REQUEST = "CUSTOMER_REQUEST", _("Cancelled at the customer's request")
    OTHER = "OTHER", _("Other")


def credit_note_reason_text(*, reason_code: str, reason: str) -> str:
    """A credit note's reason as its reader reads it, in the active language: the label from the list, then the
    free-text detail ('Billing error — wrong VAT rate'); 'Other' is its detail alone."""
    if not reason_code or reason_code == CreditNoteReason.OTHER:
        return reason
    label = str(CreditNoteReason(reason_code).label)
    return f"{label} — {reason}" if reason else label


class CreditNote(models.Model):
    """Cancels an issued invoice in full; numbered from its own gapless sequence."""

    number = models.CharField(max_length=20, unique=True)
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="credit_note")
    amount = models.DecimalField(**MONEY)
    reason_code = models.CharField(max_length=20, choices=CreditNoteReason.choices, default=CreditNoteReason.OTHER)
    reason = models.TextField(blank=True, help_text="Free-text detail of the reason; required for OTHER.")
    issue_date = models.DateField()
    pdf = models.FileField(upload_to="credit-notes/%Y/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [
            *_non_negative("amount", prefix="credit_note"),
            models.CheckConstraint(
                condition=~Q(reason_code="OTHER") | ~Q(reason=""), name="credit_note_other_reason_detailed"
            ),
        ]

    def __str__(self):
        return self.number

    def reason_text(self) -> str:
        """The reason as the credit note's documents print it, in the active language."""
        return credit_note_reason_text(reason_code=self.reason_code, reason=self.reason)


class DocumentKind(models.TextChoices):
    INVOICE = "INVOICE", "Invoice"
    CREDIT_NOTE = "CREDIT_NOTE", "Credit note"


class NumberSequence(models.Model):
    """Last number given per document kind and year: locked with select_for_update, so numbers have no gaps."""

    kind = models.CharField(max_length=12, choices=DocumentKind.choices)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "year"], name="number_sequence_kind_year_unique")]

    def __str__(self):
        return f"{self.kind} {self.year}: {self.last_number}"


class PaymentStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    PROCESSING = "PROCESSING", _("Processing")
    COMPLETED = "COMPLETED", _("Completed")
    FAILED = "FAILED", _("Failed")
    REFUNDED = "REFUNDED", _("Refunded")


class PaymentMethod(models.TextChoices):
    CARD = "CARD", _("Card")
    SEPA_DEBIT = "SEPA_DEBIT", _("SEPA direct debit")
    BANK_TRANSFER = "BANK_TRANSFER", _("Bank transfer")
    CHECK = "CHECK", _("Cheque")
    OTHER = "OTHER", _("Other")


class Payment(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY)
    refunded_amount = models.DecimalField(**MONEY, default=0)
    currency = models.CharField(max_length=3, default="EUR")
    status = models.CharField(max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    method = models.CharField(max_length=13, choices=PaymentMethod.choices, default=PaymentMethod.BANK_TRANSFER)
    provider_reference = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="payment_refund_within_amount",
            ),
        ]

    def __str__(self):
        return f"{self.amount} {self.currency} for {self.invoice}"


class CreditType(models.TextChoices):
    PROMOTIONAL = "PROMOTIONAL", _("Promotional")
    REFUND = "REFUND", _("Refund")
    COMPENSATION = "COMPENSATION", _("Compensation")
    ADJUSTMENT = "ADJUSTMENT", _("Adjustment")


class Credit(models.Model):
    """An amount a customer may spend on future invoices; `remaining_amount` is a balance, locked to change."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credits")
    type = models.CharField(max_length=12, choices=CreditType.choices)
    amount = models.DecimalField(**MONEY)
    remaining_amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="EUR")
    reason = models.TextField()
    expires_at = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The payment whose excess became this credit.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A grant made from a form (the admin's "Grant a credit") carries its key: the same form posted again grants
    # nothing more. Credits the services make themselves (overpayments, cancellations) have none; the database
    # default serves bulk loads that leave the column out.
    idempotency_key = models.CharField(max_length=200, blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["expires_at", "created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining_amount__gte=0) & Q(remaining_amount__lte=F("amount")),
                name="credit_remaining_within_amount",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=~Q(idempotency_key=""), name="credit_idempotency_key_unique"
            ),
        ]
        indexes = [models.Index(fields=["user", "expires_at"], name="credit_user_expiry_idx")]

    def __str__(self):
        return f"{self.get_type_display()} credit {self.remaining_amount}/{self.amount} {self.currency}"


class CreditApplication(models.Model):
    """How much of a credit paid an invoice; reversed (not deleted) when the invoice is cancelled."""

    credit = models.ForeignKey(Credit, on_delete=models.PROTECT, related_name="applications")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_applications")
    amount = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(default=timezone.now)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_application_amount_positive"),
            models.UniqueConstraint(fields=["credit", "invoice"], name="credit_application_once_per_invoice"),
        ]

    def __str__(self):
        return f"{self.amount} of {self.credit} on {self.invoice}"


class AlertType(models.TextChoices):
    USAGE_THRESHOLD = "USAGE_THRESHOLD", _("Usage threshold")
    PAYMENT_FAILED = "PAYMENT_FAILED", _("Payment failed")
    INVOICE_OVERDUE = "INVOICE_OVERDUE", _("Invoice overdue")
    SUBSCRIPTION_EXPIRING = "SUBSCRIPTION_EXPIRING", _("Subscription expiring")


class BillingAlert(models.Model):
    """Told once: unique per user, type and occasion (e.g. `2026-10:80`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billing_alerts")
    type = models.CharField(max_length=25, choices=AlertType.choices)
    occasion = models.CharField(max_length=100)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(
        blank=True, help_text="Why its email could not be sent; the next sweep tries again and clears it."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "type", "occasion"], name="billing_alert_once_per_occasion")
        ]

    def __str__(self):
        return f"{self.get_type_display()} ({self.occasion})"


class EmailKind(models.TextChoices):
    INVOICE_ISSUED = "INVOICE_ISSUED", "Invoice issued"
    CREDIT_NOTE_ISSUED = "CREDIT_NOTE_ISSUED", "Credit note issued"
    PAYMENT_RECEIVED = "PAYMENT_RECEIVED", "Payment received"
    PAYMENT_FAILED = "PAYMENT_FAILED", "Payment failed"
    PAYMENT_REMINDER = "PAYMENT_REMINDER", "Payment reminder"
    USAGE_THRESHOLD = "USAGE_THRESHOLD", "Usage threshold"
    SPEND_CAP_REACHED = "SPEND_CAP_REACHED", "Spend cap reached"
    SUBSCRIPTION_EXPIRING = "SUBSCRIPTION_EXPIRING", "Subscription expiring"


class EmailStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SENT = "SENT", "Sent"
    FAILED = "FAILED", "Failed"


class EmailNotification(models.Model):
    """One email to a customer, keyed so that it is never sent twice (e.g. `reminder:42:+7`)."""

    key = models.CharField(max_length=150, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_notifications")
    kind = models.CharField(max_length=25, choices=EmailKind.choices)
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.CASCADE, related_name="emails")
    recipient = models.EmailField(blank=True)
    subject = models.CharField(max_length=300, blank=True)
    language = models.CharField(max_length=2, default="en")
    context = models.JSONField(default=dict, blank=True, help_text="Plain values the templates render.")
    status = models.CharField(max_length=10, choices=EmailStatus.choices, default=EmailStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="email_status_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.recipient or self.user}"


class WebhookEventStatus(models.TextChoices):
    PROCESSED = "PROCESSED", "Processed"
    REJECTED = "REJECTED", "Rejected"


class WebhookEvent(models.Model):
    """A payment provider's event, answered once: its id is unique, so a redelivery finds it here.

    A REJECTED event was refused for its content (or could not apply): nothing of it was applied, `rejection`
    holds the refusal it was answered, and every redelivery of its id gets that same answer.
    """

    event_id = models.CharField(max_length=200, unique=True)
    type = models.CharField(max_length=50)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=WebhookEventStatus.choices, default=WebhookEventStatus.PROCESSED,
        db_default=WebhookEventStatus.PROCESSED,
    )
    rejection = models.JSONField(
        null=True, blank=True, help_text="The refusal answered: HTTP status, code, message and fields."
    )
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=WebhookEventStatus.PROCESSED, rejection__isnull=True)
                | Q(status=WebhookEventStatus.REJECTED, rejection__isnull=False),
                name="webhook_event_rejection_iff_rejected",
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.event_id}"
