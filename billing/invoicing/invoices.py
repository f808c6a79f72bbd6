"""Invoices: generate from a subscription's period, finalise (number, credits), move status, cancel."""
import datetime
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.utils.translation import gettext as _

from accounts.models import AuditLog
from accounts.services import audit_entry, audit_log_record, audit_log_record_many
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.documents.data import (
    BANK_CARD,
    SEPA_CREDIT_TRANSFER,
    buyer_language,
    issued_payment_means,
    payment_snapshot,
)
from billing.exceptions import BillingError
from billing.invoicing.buyer_snapshots import buyer_snapshots_current, buyer_snapshots_of
from billing.invoicing.credit_notes import credit_note_full_write
from billing.invoicing.numbering import numbers_reserve
from billing.models import (
    PENDING_CHARGE,
    AlertType,
    BuyerSnapshot,
    Credit,
    CreditApplication,
    CreditNoteReason,
    CreditType,
    DocumentKind,
    Interval,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    OneOffCharge,
    PaymentProviderCustomer,
    PaymentProviderName,
    Subscription,
    card_brand_name,
)
from billing.money import ZERO, format_number
from billing.notifications.alerts import alert_raise, alert_text
from billing.notifications.customer_webhooks import invoice_overdue_publish, invoices_issued_publish
from billing.periods import Period, add_months, format_long_date, local_date, parse_month
from billing.pricing import (
    InvoiceDraft,
    LineDraft,
    billing_period,
    credit_line,
    credits_spend,
    invoice_totals,
    totals_at_rate,
)
from billing.selectors import (
    invoice_drafts,
    load_subscriptions,
    seller_snapshot,
    usable_credits,
)
from billing.subscriptions.coupons import coupon_periods_count
from billing.tax import case_treatment
from billing.transitions import transition_check
from core.db import rows_insert, rows_update
from core.enqueue import enqueue_after_commit


def period_end_of(period) -> datetime.date:
    """The end (excluded) of a billing month given as `YYYY-MM` or as a Period."""
    if isinstance(period, Period):
        return period.end
    return parse_month(period).end


def _price(invoice: Invoice, *, subtotal: Decimal, tax_point: datetime.date, snapshot: BuyerSnapshot) -> None:
    """Take the buyer's current snapshot and the seller, and set tax and totals from `subtotal` and what is already
    settled; the VAT rate is the one in force on `tax_point`, the day the invoice is issued."""
    treatment = case_treatment(snapshot.tax_case, country=snapshot.country, tax_point=tax_point)
    totals = invoice_totals(subtotal=subtotal, treatment=treatment)
    invoice.buyer_snapshot = snapshot
    invoice.issue_details = {"seller": seller_snapshot()}
    invoice.buyer_country = snapshot.country
    invoice.reverse_charge = treatment.reverse_charge
    invoice.tax_mention = treatment.mention
    invoice.subtotal, invoice.tax_rate = totals.subtotal, totals.tax_rate
    invoice.tax_amount, invoice.total = totals.tax_amount, totals.total
    invoice.amount_due = invoice.total - invoice.credit_applied - invoice.amount_paid


def _new_invoices(
    drafts: list[InvoiceDraft], *, tax_point: datetime.date, snapshots: dict[int, BuyerSnapshot]
) -> list[Invoice]:
    """Unsaved invoices of `drafts`, priced (the buyer's snapshot of `snapshots`, by user id, and the seller taken,
    tax, totals)."""
    invoices = []
    for draft in drafts:
        invoice = Invoice(
            user_id=draft.user_id,
            subscription_id=draft.subscription.pk if draft.subscription is not None else None,
            kind=draft.kind,
            currency=draft.currency,
            period_start=draft.period.start,
            period_end=draft.period.end,
            coupon_redemption=draft.coupon_redemption,
        )
        _price(invoice, subtotal=draft.subtotal, tax_point=tax_point, snapshot=snapshots[draft.user_id])
        invoices.append(invoice)
    return invoices


def _insert_with_lines(invoices: list[Invoice], drafts: list[InvoiceDraft]) -> None:
    rows_insert(Invoice, invoices)
    rows_insert(
        InvoiceLine,
        (
            InvoiceLine(invoice=invoice, position=position, **line.__dict__)
            for invoice, draft in zip(invoices, drafts, strict=True)
            for position, line in enumerate(draft.lines)
        ),
    )
    for invoice, draft in zip(invoices, drafts, strict=True):
        if draft.charges:
            _charges_bill(invoice, draft.charges)


def _charges_bill(invoice: Invoice, charges: tuple[OneOffCharge, ...]) -> None:
    """The one-off charges `invoice` bills are marked billed by it. The caller locked them as pending when it
    priced them; the UPDATE still takes only pending ones, so that a charge is never billed twice."""
    billed = OneOffCharge.objects.filter(PENDING_CHARGE, pk__in=[charge.pk for charge in charges]).update(
        invoice=invoice
    )
    if billed != len(charges):
        raise BillingError(f"A one-off charge of invoice {invoice} was billed or cancelled meanwhile: price it again.")


def invoices_create(drafts: list[InvoiceDraft], *, now: datetime.datetime | None = None) -> list[Invoice]:
    """DRAFT invoices with their lines, written in bulk; priced as if issued on `now`'s day (finalising prices them
    again on the day of issue)."""
    invoices = _new_invoices(
        drafts, tax_point=local_date(now or clock.now()),
        snapshots=buyer_snapshots_current({draft.user for draft in drafts}),
    )
    _insert_with_lines(invoices, drafts)
    audit_log_record_many(
        audit_entry(action="invoice.generate", obj=invoice, changes={"total": str(invoice.total)})
        for invoice in invoices
    )
    customer_cache_invalidate(invoice.user_id for invoice in invoices)
    return invoices


def _apply_credits(
    invoices: list[Invoice], *, now: datetime.datetime
) -> tuple[list[CreditApplication], list[tuple[Invoice, LineDraft]]]:
    """Spend each customer's credits, oldest-expiring first, on their invoices: promotional and compensation
    credits as price reductions before tax (a CREDIT line each, the tax and totals priced again), then the others
    as prepaid amounts on what is left to pay (`credit_applied`).

    The credits are written; the applications and the CREDIT lines are returned unsaved, for invoices that may
    not be yet.
    """
    payable = [invoice for invoice in invoices if invoice.amount_due > 0]
    if not payable:
        return [], []
    currencies = {invoice.currency for invoice in payable}
    candidates = [
        credit
        for currency in currencies
        for credit in usable_credits(user_ids={i.user_id for i in payable}, currency=currency, now=now)
    ]
    if not candidates:
        return [], []
    # Lock in primary-key order (no deadlock with other lockers), then spend in expiry order.
    locked = {
        credit.pk: credit
        for credit in Credit.objects.select_for_update().filter(pk__in=[c.pk for c in candidates]).order_by("pk")
    }
    credits_by_user = defaultdict(list)
    for candidate in candidates:
        credits_by_user[(candidate.user_id, candidate.currency)].append(locked[candidate.pk])
    applications, lines = [], []
    for invoice in payable:
        spending = credits_spend(
            totals=totals_at_rate(subtotal=invoice.subtotal, tax_rate=invoice.tax_rate),
            settled=invoice.credit_applied + invoice.amount_paid,
            credits=credits_by_user[(invoice.user_id, invoice.currency)],
        )
        totals = spending.totals
        invoice.subtotal, invoice.tax_amount, invoice.total = totals.subtotal, totals.tax_amount, totals.total
        invoice.credit_applied += spending.credit_applied
        invoice.amount_due = invoice.total - invoice.credit_applied - invoice.amount_paid
        language = buyer_language(invoice)
        for spent in spending.spent:
            spent.credit.remaining_amount -= spent.amount
            applications.append(
                CreditApplication(credit=spent.credit, invoice=invoice, amount=spent.amount, created_at=now)
            )
            if spent.reduction:
                lines.append((invoice, credit_line(spent, language=language)))
    rows_update(Credit, locked.values(), ["remaining_amount"])
    return applications, lines


def _credit_lines_insert(lines: list[tuple[Invoice, LineDraft]]) -> None:
    """The CREDIT lines of issued invoices, each after its invoice's last line."""
    if not lines:
        return
    last_positions = dict(
        InvoiceLine.objects.filter(invoice__in={invoice.pk for invoice, _line in lines})
        .values_list("invoice").annotate(Max("position")).order_by()
    )
    rows = []
    for invoice, line in lines:
        position = last_positions[invoice.pk] = last_positions.get(invoice.pk, -1) + 1
        rows.append(InvoiceLine(invoice=invoice, position=position, **line.__dict__))
    rows_insert(InvoiceLine, rows)


def issue_documents_after_commit(invoice_ids: list[int]) -> None:
    enqueue_after_commit("billing.tasks.invoicing.invoices_documents_issue_task", invoice_ids=invoice_ids)


def _payment_snapshot(invoices: list[Invoice]) -> None:
    """Each invoice's billing snapshot says how it is collected, as at issue: with Stripe, the saved card it is
    charged to; else (manual collection, or no card saved) a bank transfer."""
    cards = {}
    if settings.PAYMENT_PROVIDER == PaymentProviderName.STRIPE:
        cards = {
            customer.user_id: customer
            for customer in PaymentProviderCustomer.objects.filter(
                user_id__any={invoice.user_id for invoice in invoices}, provider=PaymentProviderName.STRIPE
            ).exclude(default_payment_method_id="")
        }
    for invoice in invoices:
        card = cards.get(invoice.user_id)
        payment = (
            payment_snapshot(means_code=SEPA_CREDIT_TRANSFER) if card is None
            else payment_snapshot(
                means_code=BANK_CARD, card_brand=card_brand_name(card.card_brand), card_last4=card.card_last4
            )
        )
        invoice.issue_details = {**invoice.issue_details, "payment": payment}


def charge_after_commit(invoices: list[Invoice]) -> None:
    """Each issued invoice with an amount due that its snapshot says a card pays is charged to it, on a worker
    once the issue committed: Stripe out of reach never rolls billing back."""
    for invoice in invoices:
        if invoice.amount_due > 0 and issued_payment_means(invoice) == BANK_CARD:
            enqueue_after_commit("billing.tasks.payments.invoice_charge_task", invoice_id=invoice.pk, attempt=1)


# Finalising rewrites the whole locked row, as the run inserts it whole: a field the issue sets cannot be left
# out of one path only.
INVOICE_COLUMNS = [field.name for field in Invoice._meta.concrete_fields if not field.primary_key]


def _issue(invoices: list[Invoice], *, now: datetime.datetime, write: Callable[[list[Invoice]], object]) -> None:
    """The one issue path of priced invoices: credits spent, how each is collected snapshotted, numbers in one
    block, dates and status; then `write` stores the rows (finalisation updates the locked drafts, the run inserts
    them with their lines) and the CREDIT lines and credit applications follow. The number counter stays locked
    until commit. A period invoice with a coupon's discount counts a period on it."""
    coupon_periods_count(invoices, now=now)
    applications, credit_lines = _apply_credits(invoices, now=now)
    _payment_snapshot(invoices)
    issue_date = local_date(now)
    numbers = numbers_reserve(kind=DocumentKind.INVOICE, year=issue_date.year, count=len(invoices))
    for invoice, number in zip(invoices, numbers, strict=True):
        invoice.number = number
        invoice.issue_date = issue_date
        invoice.due_date = issue_date + datetime.timedelta(days=settings.INVOICE_DUE_DAYS)
        invoice.status, invoice.sent_at = InvoiceStatus.SENT, now
        if invoice.amount_due == 0:
            invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
    write(invoices)
    _credit_lines_insert(credit_lines)
    CreditApplication.objects.bulk_create(applications)
    charge_after_commit(invoices)
    invoices_issued_publish(invoices, now=now)


def invoice_issue_entry(invoice: Invoice) -> AuditLog:
    return audit_entry(
        action="invoice.finalize", obj=invoice, changes={"number": invoice.number, "status": invoice.status},
    )


def invoices_finalize(invoices: list[Invoice], *, now: datetime.datetime, issue_documents: bool = True) -> None:
    """DRAFT → SENT for rows the caller has locked: snapshot, tax, credits, then numbers in one block.

    The PDFs and emails follow after commit, so that a rolled-back run leaves no document behind; a
    lost task is caught up by the daily documents sweep.
    """
    if not invoices:
        return
    invoices = sorted(invoices, key=lambda invoice: invoice.pk)
    for invoice in invoices:
        transition_check(invoice, to=InvoiceStatus.SENT)
    subtotals = dict(
        InvoiceLine.objects.filter(invoice__any=invoices).values_list("invoice").annotate(Sum("amount")).order_by()
    )
    snapshots = buyer_snapshots_current({invoice.user for invoice in invoices})
    for invoice in invoices:
        _price(
            invoice, subtotal=subtotals.get(invoice.pk, ZERO), tax_point=local_date(now),
            snapshot=snapshots[invoice.user_id],
        )
    _issue(invoices, now=now, write=lambda issued: rows_update(Invoice, issued, INVOICE_COLUMNS))
    audit_log_record_many(invoice_issue_entry(invoice) for invoice in invoices)
    customer_cache_invalidate(invoice.user_id for invoice in invoices)
    if issue_documents:
        issue_documents_after_commit([invoice.pk for invoice in invoices])


def invoices_issue(drafts: list[InvoiceDraft], *, now: datetime.datetime) -> list[Invoice]:
    """New invoices written once, already issued (numbered, SENT or PAID): the monthly run's way, from its
    subscriptions read as rows (`billing.selectors.subscription_rows`).

    The same rows as `invoices_create` then `invoices_finalize`, without writing a DRAFT first. The caller
    records the audit entries (`invoice_issue_entry`), invalidates the customers' caches and queues the
    documents, so that a chunk does each once.
    """
    if not drafts:
        return []
    versions = {draft.subscription.user_id: draft.subscription.profile_version for draft in drafts}
    invoices = _new_invoices(drafts, tax_point=local_date(now), snapshots=buyer_snapshots_of(versions))
    _issue(invoices, now=now, write=lambda issued: _insert_with_lines(issued, drafts))
    return invoices


def _lock_invoice(invoice: Invoice) -> Invoice:
    return Invoice.objects.select_for_update().select_related("user").get(pk=invoice.pk)


def _existing_invoice(subscription: Subscription, billed: Period) -> Invoice | None:
    return (
        Invoice.objects.filter(subscription=subscription, period_start=billed.start, kind=InvoiceKind.PERIOD)
        .exclude(status=InvoiceStatus.CANCELLED)
        .order_by("pk")
        .first()
    )


def _check_period_end(subscription: Subscription, period_end: datetime.date) -> None:
    if subscription.current_period_end == period_end or subscription.plan.interval != Interval.YEAR:
        return
    anchor = subscription.current_period_start.replace(day=1)
    months = (period_end.year - anchor.year) * 12 + period_end.month - anchor.month
    if months % 12:
        raise BillingError(f"No yearly period of subscription {subscription.pk} ends on {period_end}.")


@transaction.atomic
def invoice_generate(*, subscription: Subscription, period) -> Invoice | None:
    """The DRAFT invoice of `subscription` for the billing month `period` (`YYYY-MM` or a Period).

    The same subscription and period twice returns the existing invoice; None when nothing is owed.
    """
    period_end = period_end_of(period)
    Subscription.objects.select_for_update().filter(pk=subscription.pk).get()
    [subscription] = load_subscriptions([subscription.pk], lock_charges=True)
    _check_period_end(subscription, period_end)
    billed = billing_period(subscription, period_end)
    existing = _existing_invoice(subscription, billed)
    if existing is not None:
        return existing
    [draft] = invoice_drafts({subscription: billed})
    if not draft.is_billed:
        return None
    [invoice] = invoices_create([draft])
    return invoice


@transaction.atomic
def invoice_finalize(*, invoice: Invoice, now: datetime.datetime | None = None) -> Invoice:
    """DRAFT → SENT with the next number; PAID at once when credits cover it."""
    locked = _lock_invoice(invoice)
    invoices_finalize([locked], now=now or clock.now())
    return locked


@transaction.atomic
def invoice_mark_overdue(*, invoice: Invoice, now: datetime.datetime | None = None) -> Invoice:
    now = now or clock.now()
    locked = _lock_invoice(invoice)
    transition_check(locked, to=InvoiceStatus.OVERDUE)
    if locked.due_date >= local_date(now):
        raise BillingError(f"Invoice {locked} is not overdue: it is due on {locked.due_date}.")
    locked.status = InvoiceStatus.OVERDUE
    locked.save(update_fields=["status"])
    audit_log_record(action="invoice.overdue", obj=locked, changes={"status": InvoiceStatus.OVERDUE})
    customer_cache_invalidate(locked.user_id)
    overdue_alert_raise(locked, now=now)
    invoice_overdue_publish(locked, now=now)
    return locked


def _overdue_text(invoice: Invoice) -> str:
    return _("Invoice %(number)s of %(total)s was due on %(due_date)s.") % {
        "number": invoice.number, "total": format_number(invoice.total, currency=invoice.currency),
        "due_date": format_long_date(invoice.due_date),
    }


def overdue_alert_raise(invoice: Invoice, *, now: datetime.datetime) -> None:
    alert_raise(
        user=invoice.user,
        type=AlertType.INVOICE_OVERDUE,
        occasion=f"invoice:{invoice.number}",
        message=alert_text(_overdue_text, invoice),
        now=now,
    )


def _return_credits(invoice: Invoice, *, now: datetime.datetime) -> None:
    applications = list(invoice.credit_applications.filter(reversed_at__isnull=True).order_by("credit_id"))
    if not applications:
        return
    credits = {
        credit.pk: credit
        for credit in Credit.objects.select_for_update()
        .filter(pk__in=[a.credit_id for a in applications])
        .order_by("pk")
    }
    for application in applications:
        credits[application.credit_id].remaining_amount += application.amount
        application.reversed_at = now
    Credit.objects.bulk_update(credits.values(), ["remaining_amount"])
    CreditApplication.objects.bulk_update(applications, ["reversed_at"])


@transaction.atomic
def invoice_cancel(
    *, invoice: Invoice, reason_code: str = CreditNoteReason.OTHER, reason: str = "",
    now: datetime.datetime | None = None,
) -> Invoice:
    """Cancel an invoice. An issued one is never edited: a credit note cancels it, the credits it used
    come back, and what was paid on it becomes a credit for the customer.

    The credit note's reason is one of the list (`reason_code`, printed in the buyer's language) with `reason`
    as free-text detail, which OTHER requires: a caller giving only free text gives reason OTHER.
    """
    now = now or clock.now()
    reason = (reason or "").strip()
    if reason_code not in CreditNoteReason.values:
        raise BillingError(f"Unknown credit note reason {reason_code!r} (one of {', '.join(CreditNoteReason.values)}).")
    locked = _lock_invoice(invoice)
    transition_check(locked, to=InvoiceStatus.CANCELLED)
    if locked.is_issued:
        if reason_code == CreditNoteReason.OTHER and not reason:
            raise BillingError("A reason is required to cancel an issued invoice: pick one or describe it.")
        credit_note_full_write(locked, reason_code=reason_code, reason=reason, now=now)
        _return_credits(locked, now=now)
        if locked.amount_paid > 0:
            credit = Credit.objects.create(
                user=locked.user, type=CreditType.REFUND, amount=locked.amount_paid,
                remaining_amount=locked.amount_paid, currency=locked.currency,
                reason=f"Paid on cancelled invoice {locked.number}", created_at=now,
            )
            audit_log_record(action="credit.grant", obj=credit, changes={"amount": str(credit.amount)})
    else:
        # A draft never billed its one-off charges: they wait for the next invoice again.
        OneOffCharge.objects.filter(invoice=locked).update(invoice=None)
    locked.status, locked.cancelled_at = InvoiceStatus.CANCELLED, now
    locked.save(update_fields=["status", "cancelled_at"])
    audit_log_record(action="invoice.cancel", obj=locked, changes={"reason_code": reason_code, "reason": reason})
    customer_cache_invalidate(locked.user_id)
    return locked


def next_period(subscription: Subscription, period_end: datetime.date) -> Period:
    months = 12 if subscription.plan.interval == Interval.YEAR else 1
    return Period(period_end, add_months(period_end, months))
