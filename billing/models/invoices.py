"""Invoices, their lines, credit notes and the gap-free number sequences they are numbered from."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.fields import EncryptedJSONField
from billing.models.coupons import CouponRedemption
from billing.models.fields import MONEY, UNIT_PRICE, non_negative
from billing.models.subscriptions import Subscription


class InvoiceStatus(models.TextChoices):
    DRAFT = "DRAFT", _("Draft")
    SENT = "SENT", _("Sent")
    PAID = "PAID", _("Paid")
    OVERDUE = "OVERDUE", _("Overdue")
    CANCELLED = "CANCELLED", _("Cancelled")


ISSUED_INVOICE_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.PAID, InvoiceStatus.OVERDUE)


class InvoiceKind(models.TextChoices):
    # In context: French agrees these with "facture".
    PERIOD = "PERIOD", pgettext_lazy("invoice kind", "Period")  # a subscription's period, billed in arrears
    INTERIM = "INTERIM", pgettext_lazy("invoice kind", "Interim")  # usage so far, billed before the period ends
    ONE_OFF = "ONE_OFF", pgettext_lazy("invoice kind", "One-off")  # a charge finance invoiced at once


class TaxCase(models.TextChoices):
    """Who the buyer is for VAT (billing.tax): all a profile tells of its invoices' tax but the rate, which depends on
    the day."""

    FRENCH = "FRENCH", "French VAT territory"
    EU_BUSINESS = "EU_BUSINESS", "EU business (reverse charge)"
    EU_CONSUMER = "EU_CONSUMER", "EU consumer"
    OUTSIDE_EU_BUSINESS = "OUTSIDE_EU_BUSINESS", "Business outside the EU"
    OUTSIDE_EU_CONSUMER = "OUTSIDE_EU_CONSUMER", "Consumer outside the EU"


class BuyerSnapshot(models.Model):
    """A customer as one version of their profile states them on invoices: made once per version (when the profile
    is saved, or by the first invoice after a change) and shared by every invoice priced while it holds, so that
    invoicing decrypts and encrypts nothing per invoice. Never edited: a new profile version makes a new one.

    The tax case, country and language are kept in clear beside the encrypted details: they are what pricing reads.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="buyer_snapshots")
    # 0: a user without a profile (their account's name and email stand in), told apart by `digest`.
    profile_version = models.PositiveIntegerField()
    digest = models.CharField(max_length=64, help_text="Keyed hash of the details: equal details, equal digest.")
    details = EncryptedJSONField(help_text="Name, company, address, VAT number… as invoices print them; encrypted.")
    country = models.CharField(max_length=2)
    tax_case = models.CharField(max_length=19, choices=TaxCase.choices)
    language = models.CharField(max_length=2)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "profile_version", "digest"], name="buyer_snapshot_once"),
        ]

    def __str__(self):
        return f"Buyer snapshot of user {self.user_id}, profile version {self.profile_version}"


class Invoice(models.Model):
    number = models.CharField(max_length=20, unique=True, null=True, blank=True, help_text="Null while DRAFT.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    status = models.CharField(max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    kind = models.CharField(max_length=8, choices=InvoiceKind.choices, default=InvoiceKind.PERIOD)
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
    # What its partial credit notes took off the price (VAT included): no longer owed, nor kept if it was paid.
    credited = models.DecimalField(**MONEY, default=0)
    reverse_charge = models.BooleanField(default=False)
    tax_mention = models.CharField(max_length=200, blank=True, help_text="Reverse-charge or exemption mention.")
    buyer_snapshot = models.ForeignKey(
        "BuyerSnapshot", null=True, blank=True, on_delete=models.PROTECT, related_name="invoices",
        help_text="The buyer as the version of their profile in force when the invoice was priced (encrypted there).",
    )
    issue_details = models.JSONField(
        default=dict, blank=True,
        help_text="The seller and how the invoice is collected, as at issue; nothing personal (a card shows only "
        "its brand and last 4 digits).",
    )
    buyer_country = models.CharField(
        max_length=2, blank=True, help_text="The buyer's country in the snapshot, for tax reports and filters."
    )
    coupon_redemption = models.ForeignKey(
        CouponRedemption, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices",
        help_text="The coupon whose DISCOUNT line this period invoice carries: issuing it counts a period on it.",
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
            *non_negative(
                "subtotal", "tax_rate", "tax_amount", "total", "credit_applied", "amount_paid", "amount_due",
                "credited", prefix="invoice",
            ),
            models.CheckConstraint(condition=Q(credited__lte=F("total")), name="invoice_credited_within_total"),
            models.UniqueConstraint(
                fields=["subscription", "period_start"],
                condition=Q(kind=InvoiceKind.PERIOD) & ~Q(status=InvoiceStatus.CANCELLED),
                name="invoice_one_per_subscription_period",
            ),
            models.CheckConstraint(condition=Q(period_end__gt=F("period_start")), name="invoice_period_not_empty"),
            # Rounded to the cent so that SQLite, which adds decimals as floats, checks the same thing as PostgreSQL.
            models.CheckConstraint(
                condition=Q(total=Round(F("subtotal") + F("tax_amount"), 2)), name="invoice_total_is_sum"
            ),
            models.CheckConstraint(
                condition=Q(
                    amount_due=Round(F("total") - F("credit_applied") - F("amount_paid") - F("credited"), 2)
                ),
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

    @property
    def billing_details(self) -> dict:
        """Buyer, seller and payment as the invoice prints them: its buyer snapshot (decrypted) and issue details."""
        buyer = self.buyer_snapshot.details if self.buyer_snapshot_id else None
        return {**({"buyer": buyer} if buyer else {}), **self.issue_details}


class LineKind(models.TextChoices):
    SUBSCRIPTION = "SUBSCRIPTION", _("Subscription")
    USAGE = "USAGE", _("Usage")
    PRORATION = "PRORATION", _("Proration")
    ADJUSTMENT = "ADJUSTMENT", _("Adjustment")
    DISCOUNT = "DISCOUNT", _("Discount")  # a coupon's reduction, negative, before tax
    CREDIT = "CREDIT", _("Credit")  # a promotional or compensation credit spent as a price reduction, before tax


class DocumentLineFields(models.Model):
    """What a line of an invoice or of a credit note says, as its documents print it."""

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
        abstract = True

    def __str__(self):
        return self.description


class InvoiceLine(DocumentLineFields):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position_unique"),
            models.CheckConstraint(condition=Q(price_base_quantity__gt=0), name="invoice_line_price_base_positive"),
        ]


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


class CreditNoteKind(models.TextChoices):
    FULL = "FULL", pgettext_lazy("credit note kind", "Full")  # cancels its invoice
    PARTIAL = "PARTIAL", pgettext_lazy("credit note kind", "Partial")  # credits some lines or an amount of it


class CreditNote(models.Model):
    """Credits an issued invoice: in full (cancels it, once) or in part (any number of times while what is credited
    stays within its total); numbered from its own gapless sequence. Its lines are what it credits, at the
    invoice's tax rate; `amount` is the total credited, VAT included."""

    number = models.CharField(max_length=20, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    kind = models.CharField(max_length=7, choices=CreditNoteKind.choices, default=CreditNoteKind.FULL)
    subtotal = models.DecimalField(**MONEY)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4)
    tax_amount = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY)
    reason_code = models.CharField(max_length=20, choices=CreditNoteReason.choices, default=CreditNoteReason.OTHER)
    reason = models.TextField(blank=True, help_text="Free-text detail of the reason; required for OTHER.")
    issue_date = models.DateField()
    pdf = models.FileField(upload_to="credit-notes/%Y/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    # A partial credit note issued from a form carries the form's key: the same form posted again issues nothing.
    idempotency_key = models.CharField(max_length=200, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [
            *non_negative("tax_rate", "tax_amount", prefix="credit_note"),
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=~Q(idempotency_key=""), name="credit_note_idempotency_key_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_note_amount_positive"),
            models.CheckConstraint(condition=Q(subtotal__gt=0), name="credit_note_subtotal_positive"),
            models.CheckConstraint(
                condition=Q(amount=Round(F("subtotal") + F("tax_amount"), 2)), name="credit_note_total_is_sum"
            ),
            models.UniqueConstraint(
                fields=["invoice"], condition=Q(kind="FULL"), name="credit_note_one_full_per_invoice"
            ),
            models.CheckConstraint(
                condition=~Q(reason_code="OTHER") | ~Q(reason=""), name="credit_note_other_reason_detailed"
            ),
        ]

    def __str__(self):
        return self.number

    def reason_text(self) -> str:
        """The reason as the credit note's documents print it, in the active language."""
        return credit_note_reason_text(reason_code=self.reason_code, reason=self.reason)


class CreditNoteLine(DocumentLineFields):
    """What a credit note credits: a line of its invoice, in full or for part of its amount, or an amount."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(
        InvoiceLine, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_note_lines",
        help_text="The invoice line it credits; none for an amount credited on the whole invoice.",
    )

    class Meta:
        ordering = ["credit_note", "position"]
        constraints = [
            models.UniqueConstraint(fields=["credit_note", "position"], name="credit_note_line_position_unique"),
            models.CheckConstraint(
                condition=Q(price_base_quantity__gt=0), name="credit_note_line_price_base_positive"
            ),
        ]


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
