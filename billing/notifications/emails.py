"""Customer emails: recorded once per key, delivered after commit, in the customer's language, never twice.

`email_queue` stores what an email says as plain JSON values; `email_deliver` renders and sends it. The
templates of a kind live in `templates/emails/<kind>_subject.txt`, `<kind>.txt` and `<kind>.html`
(kind in lower case) and read these context keys; `email_queue` fills the names from `user`, the invoice
figures from `invoice`, the caller gives the rest:

- INVOICE_ISSUED: the invoice figures.
- INVOICE_ISSUED and CREDIT_NOTE_ISSUED, for a customer whose e-invoice format is UBL: `ubl_name` and `ubl_xml`,
  the UBL file attached beside the PDF, given by the documents' services (this room cannot build it).
- CREDIT_NOTE_ISSUED: `credit_note_number`, `credit_note_kind` (FULL or PARTIAL), `amount` (the credit note's),
  `reason_code` and `reason` (its detail): from the credit note, given by the documents' services; the email
  prints the reason's label in the customer's language.
- PAYMENT_RECEIVED: `amount` (the payment's); `amount_due` is what remains on the invoice.
- PAYMENT_FAILED: `amount` (the payment's), `reason` (may be empty; a reason the product writes is marked with
  gettext_noop where it is written and translated here).
- PAYMENT_REMINDER: `days_from_due` (negative before the due date: -3, 1, 7, 15), `stage` (its tone: upcoming,
  first, second, final).
- Both, filled from the invoice when its last card charge (Stripe) failed: `card_refused` (true), and for
  PAYMENT_FAILED `retry_date`, the day of the next automatic attempt (null when none is left).
- USAGE_THRESHOLD: `percent`, `tokens_used`, `included_tokens`, `period_start_date`, `period_end_date`,
  `overage_price_per_million` (0: a hard cap) and `currency` of the plan; `usage_pricing` when not per unit
  (tiers or blocks: the email points to the plan's prices; absent in emails stored before it: per unit); in a
  free trial, `trial_until` (the day calls beyond the quota resume: the trial bills no tokens).
- SPEND_CAP_REACHED: `spend_cap`, `currency`, `period_start_date`, `period_end_date` (when calls resume).
- SUBSCRIPTION_EXPIRING: `plan_name`, `end_date` (the current period's end, excluded: the email shows the day
  before, its last day).
- PLAN_VERSION_MOVE: `plan_name` and `new_plan_name`, `currency`, `interval` (MONTH/YEAR), `old_price` and
  `new_price`, `old_included_tokens` and `new_included_tokens`, `effective_date` (the first day on the new version).
- TRIAL_ENDING (3 days before) and TRIAL_ENDED: `plan_name`, `end_date` (the trial's end, excluded: the first
  day billed), `outcome` (`billing.selectors.TRIAL_*`: billed from then on, or cancelled, and why), `amount` (the
  plan's price) and `currency`.

Every email links to a page of the site (`action_url`, on `SITE_URL`): the invoice it is about, or where the
customer acts on the alert. The emails about an invoice to pay carry the seller's `iban` and `bic`, shown
while something is left to pay, with the invoice number as the reference.
"""
import datetime
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from stdnum import iban

from accounts.models import User
from accounts.selectors import customer_language, saved_profile
from billing import clock
from billing.exceptions import BillingError
from billing.models import (
    CreditNote,
    EmailKind,
    EmailNotification,
    EmailStatus,
    Invoice,
    InvoiceKind,
    Payment,
    PaymentMethod,
    PaymentProviderName,
    PaymentStatus,
    credit_note_reason_text,
)
from billing.money import RECOVERY_INDEMNITY, late_payment_rate
from billing.periods import Period, card_retry_day, local_date, period_name
from core.enqueue import enqueue_after_commit

UBL_NAME, UBL_XML = "ubl_name", "ubl_xml"
_INVOICE_FIGURES = frozenset(
    {"invoice_number", "currency", "total", "amount_due", "due_date", "period_start_date", "period_end_date"}
)
REQUIRED_CONTEXT: dict[str, frozenset[str]] = {
    EmailKind.INVOICE_ISSUED: _INVOICE_FIGURES,
    EmailKind.CREDIT_NOTE_ISSUED: _INVOICE_FIGURES | {"credit_note_number", "amount", "reason"},
    EmailKind.PAYMENT_RECEIVED: _INVOICE_FIGURES | {"amount"},
    EmailKind.PAYMENT_FAILED: _INVOICE_FIGURES | {"amount", "reason"},
    EmailKind.PAYMENT_REMINDER: _INVOICE_FIGURES | {"days_from_due", "stage"},
    EmailKind.USAGE_THRESHOLD: frozenset(
        {"percent", "tokens_used", "included_tokens", "period_start_date", "period_end_date",
         "overage_price_per_million", "currency"}
    ),
    EmailKind.SPEND_CAP_REACHED: frozenset({"spend_cap", "currency", "period_start_date", "period_end_date"}),
    EmailKind.SUBSCRIPTION_EXPIRING: frozenset({"plan_name", "end_date"}),
    EmailKind.PLAN_VERSION_MOVE: frozenset(
        {"plan_name", "new_plan_name", "currency", "interval", "old_price", "new_price", "old_included_tokens",
         "new_included_tokens", "effective_date"}
    ),
    EmailKind.TRIAL_ENDING: frozenset({"plan_name", "end_date", "outcome", "amount", "currency"}),
    EmailKind.TRIAL_ENDED: frozenset({"plan_name", "end_date", "outcome", "amount", "currency"}),
}

# Stored context is JSON; these keys turn back into the types the templates compare and format.
_TYPED_CONTEXT: dict[str, Callable[[str], Any]] = {
    "total": Decimal,
    "credit_applied": Decimal,
    "amount_due": Decimal,
    "amount": Decimal,
    "spend_cap": Decimal,
    "old_price": Decimal,
    "new_price": Decimal,
    "effective_date": datetime.date.fromisoformat,
    "overage_price_per_million": Decimal,
    "due_date": datetime.date.fromisoformat,
    "period_start_date": datetime.date.fromisoformat,
    "period_end_date": datetime.date.fromisoformat,
    "end_date": datetime.date.fromisoformat,
    "trial_until": datetime.date.fromisoformat,
    "retry_date": datetime.date.fromisoformat,
}


class EmailDeliveryFailed(Exception):
    """The mail server refused or dropped an email; the failure is recorded and the task retries it."""


class EmailRenderFailed(Exception):
    """An email could not be rendered (a template or a stored value in error); recorded, not retried at once."""


def _credit_note(notification: EmailNotification) -> CreditNote | None:
    """The credit note a credit note email is about, by the number it was sent with (an invoice may have several)."""
    number = notification.context.get("credit_note_number")
    if notification.kind != EmailKind.CREDIT_NOTE_ISSUED or notification.invoice is None or not number:
        return None
    return notification.invoice.credit_notes.filter(number=number).order_by("pk").first()


def _document_context(invoice: Invoice | None) -> dict[str, Any]:
    """The figures of the invoice."""
    if invoice is None:
        return {}
    return {
        "invoice_number": invoice.number,
        "currency": invoice.currency,
        "total": invoice.total,
        "credit_applied": invoice.credit_applied,
        "amount_due": invoice.amount_due,
        "due_date": invoice.due_date,
        "period_start_date": invoice.period_start,
        "period_end_date": invoice.period_end,
        "invoice_kind": invoice.kind,
    }


def charge_attempt_key_prefix(invoice_id: int) -> str:
    """The start of the idempotency key of every automatic card charge of an invoice (payments.charging)."""
    return f"stripe:invoice:{invoice_id}:attempt:"



def _card_refused_context(*, kind: str, invoice: Invoice | None) -> dict[str, Any]:
    """`card_refused` and `retry_date` when the invoice's latest charge attempt was a card charge Stripe refused."""
    if invoice is None or kind not in (EmailKind.PAYMENT_FAILED, EmailKind.PAYMENT_REMINDER):
        return {}
    if settings.PAYMENT_PROVIDER != PaymentProviderName.STRIPE:
        return {}
    latest = (
        Payment.objects.filter(invoice=invoice).exclude(status=PaymentStatus.REFUNDED)
        .order_by("-created_at", "-pk").first()
    )
    if (
        latest is None or latest.status != PaymentStatus.FAILED or latest.method != PaymentMethod.CARD
        or not latest.idempotency_key.startswith(charge_attempt_key_prefix(invoice.pk))
    ):
        return {}  # paid, in progress, or a failed bank transfer: nothing was refused on the card
    context: dict[str, Any] = {"card_refused": True}
    if kind == EmailKind.PAYMENT_FAILED:
        attempted_on = local_date(latest.created_at)
        context["retry_date"] = card_retry_day(issue_date=invoice.issue_date, attempted_on=attempted_on)
    return context


# The emails that ask for the payment of their invoice, and the page an email without an invoice links to.
_PAYMENT_KINDS = frozenset(
    {EmailKind.INVOICE_ISSUED, EmailKind.PAYMENT_RECEIVED, EmailKind.PAYMENT_FAILED, EmailKind.PAYMENT_REMINDER}
)
_ACTION_PAGES = {
    EmailKind.USAGE_THRESHOLD: "billing:dashboard",
    EmailKind.SPEND_CAP_REACHED: "accounts:profile",
    EmailKind.SUBSCRIPTION_EXPIRING: "billing:plan_change",
    EmailKind.PLAN_VERSION_MOVE: "billing:dashboard",
    EmailKind.TRIAL_ENDING: "billing:dashboard",
    EmailKind.TRIAL_ENDED: "billing:dashboard",
}


def _links_and_instructions(*, kind: str, invoice: Invoice | None) -> dict[str, str]:
    """The absolute link of the email, and the bank details to pay its invoice by transfer."""
    if invoice is not None:
        path = reverse("billing:invoice_detail", args=[invoice.pk])
    else:
        path = reverse(_ACTION_PAGES.get(kind, "billing:invoice_list"))
    values = {"action_url": f"{settings.SITE_URL}{path}"}
    account = settings.SELLER.get("iban", "")
    # An invoice issued to be charged to a saved card says so on its document, not how to pay it by transfer,
    # until the card is refused.
    by_card = invoice is not None and kind != EmailKind.PAYMENT_FAILED and _charged_to_card(invoice)
    if invoice is not None and kind in _PAYMENT_KINDS and account and not by_card:
        values |= {"iban": iban.format(account), "bic": settings.SELLER.get("bic", "")}
    return values


def _charged_to_card(invoice: Invoice) -> bool:
    """Whether the invoice was issued to be charged to a saved card: its billing snapshot names the card."""
    return "card_last4" in invoice.issue_details.get("payment", {})


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """JSON values only: Decimals and dates become strings, so the row says exactly what was sent."""
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


@transaction.atomic
def email_queue(
    *, kind: str, key: str, user: User, context: dict[str, Any], invoice: Invoice | None = None
) -> EmailNotification:
    """Record the email `key` once and deliver it after commit; the same key again returns the same row."""
    if kind not in EmailKind.values:
        raise BillingError(f"'{kind}' is not an email kind: use one of {', '.join(EmailKind.values)}.")
    profile = saved_profile(user)
    values = {
        "customer_name": (profile.full_name if profile else "") or user.get_full_name(),
        "seller_name": settings.SELLER["name"],
        "seller_email": settings.SELLER["email"],
        **_document_context(invoice),
        **_links_and_instructions(kind=kind, invoice=invoice),
        **_card_refused_context(kind=kind, invoice=invoice),
        **context,
    }
    missing = REQUIRED_CONTEXT[kind] - values.keys()
    if missing:
        raise BillingError(f"A {kind} email needs {', '.join(sorted(missing))} in its context.")
    notification, created = EmailNotification.objects.get_or_create(
        key=key,
        defaults={
            "user": user,
            "kind": kind,
            "invoice": invoice,
            "recipient": profile.invoice_email if profile else user.email,
            "language": customer_language(profile),
            "context": _plain(values),
        },
    )
    if created:
        # A broker down at commit leaves the row PENDING, for the unsent-emails sweep to deliver.
        enqueue_after_commit("billing.tasks.emails.email_deliver_task", notification_id=notification.pk)
    return notification


def _attachment(notification: EmailNotification) -> tuple[str, FieldFile] | None:
    """The PDF an invoice or credit note email carries, when it has been rendered."""
    invoice = notification.invoice
    if invoice is None:
        return None
    if notification.kind in (EmailKind.INVOICE_ISSUED, EmailKind.PAYMENT_REMINDER):
        return (f"{invoice.number}.pdf", invoice.pdf) if invoice.pdf else None
    credit_note = _credit_note(notification)
    if credit_note is not None and credit_note.pdf:
        return f"{credit_note.number}.pdf", credit_note.pdf
    return None


def _ubl_attachment(notification: EmailNotification) -> tuple[str, bytes] | None:
    """The UBL XML an invoice or credit-note email carries beside its PDF, when the customer reads UBL."""
    if notification.kind not in (EmailKind.INVOICE_ISSUED, EmailKind.CREDIT_NOTE_ISSUED):
        return None
    xml = notification.context.get(UBL_XML)
    return (notification.context[UBL_NAME], xml.encode()) if xml else None


def _template_context(notification: EmailNotification, *, attachment_name: str | None) -> dict[str, Any]:
    """The stored values with their types back, and the few values derived for display in the active language."""
    context = {
        key: _TYPED_CONTEXT[key](value) if key in _TYPED_CONTEXT and value is not None else value
        for key, value in notification.context.items()
    }
    # A one-off charge's invoice is for that charge, not for a period of the subscription.
    if context.get("period_start_date") and context.get("period_end_date") and (
        context.get("invoice_kind") != InvoiceKind.ONE_OFF
    ):
        context["period"] = period_name(Period(context["period_start_date"], context["period_end_date"]))
    if context.get("end_date"):
        context["last_day"] = context["end_date"] - datetime.timedelta(days=1)
    if "days_from_due" in context:
        context["days"] = abs(context["days_from_due"])
        context["late_payment_rate"], context["recovery_indemnity"] = late_payment_rate(), RECOVERY_INDEMNITY
    if notification.kind == EmailKind.CREDIT_NOTE_ISSUED:
        context["reason"] = credit_note_reason_text(
            reason_code=context.get("reason_code", ""), reason=context["reason"]  # none before reasons had codes
        )
    if notification.kind == EmailKind.PAYMENT_FAILED and context.get("reason"):
        context["reason"] = gettext(context["reason"])  # a provider's own words stay as they are
    context["pays_by_transfer"] = bool(context.get("iban")) and context.get("amount_due", 0) > 0
    context["attachment_name"] = attachment_name
    return context


def _render(notification: EmailNotification, *, attachment_name: str | None) -> tuple[str, str, str]:
    """Subject, plain text and HTML of any kind, in the notification's language."""
    prefix = f"emails/{notification.kind.lower()}"
    with translation.override(notification.language):
        context = _template_context(notification, attachment_name=attachment_name)
        subject = render_to_string(f"{prefix}_subject.txt", context)
        text = render_to_string(f"{prefix}.txt", context)
        html = render_to_string(f"{prefix}.html", context)
    # Template tags leave blank lines and trailing spaces behind; a header must be one line. Only ASCII
    # whitespace is collapsed: French keeps its no-break space before a colon.
    subject = re.sub(r"[ \t\r\n\f\v]+", " ", subject).strip(" \t\r\n\f\v")
    text = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text)).strip() + "\n"
    return subject, text, html


def _message(notification: EmailNotification) -> EmailMultiAlternatives:
    attachment = _attachment(notification)
    subject, text, html = _render(notification, attachment_name=attachment[0] if attachment else None)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[notification.recipient]
    )
    message.attach_alternative(html, "text/html")
    if attachment:
        name, pdf = attachment
        with pdf.open("rb") as file:
            message.attach(name, file.read(), "application/pdf")
    ubl = _ubl_attachment(notification)
    if ubl:
        message.attach(*ubl, "application/xml")
    return message


def email_deliver(*, notification_id: int, now: datetime.datetime | None = None) -> EmailNotification:
    """Send a queued email unless it was already sent; a failure to render or to send is recorded, then raised."""
    with transaction.atomic():
        notification = (
            EmailNotification.objects.select_for_update(of=("self",))
            .select_related("invoice")
            .get(pk=notification_id)
        )
        if notification.status == EmailStatus.SENT:
            return notification
        notification.attempts += 1
        failure, raised = None, None
        try:
            message = _message(notification)
        except Exception as error:  # any template or value error: the retry sweep tries again a few times only
            failure, raised = error, EmailRenderFailed
        else:
            notification.subject = message.subject[:300]
            try:
                message.send(fail_silently=False)
            except OSError as error:  # smtplib's errors are OSErrors, like a refused or dropped connection
                failure, raised = error, EmailDeliveryFailed
        # Saved and committed before raising: raising inside the block would roll the record back.
        if failure is None:
            notification.status, notification.sent_at = EmailStatus.SENT, now or clock.now()
        else:
            notification.status, notification.last_error = EmailStatus.FAILED, f"{type(failure).__name__}: {failure}"
        notification.save(update_fields=["subject", "attempts", "status", "last_error", "sent_at"])
    if failure is not None:
        raise raised(
            f"Email {notification.key} to {notification.recipient} failed (attempt {notification.attempts}): "
            f"{notification.last_error}"
        ) from failure
    return notification
