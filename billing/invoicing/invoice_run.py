"""The monthly invoice run: every subscription period that ended is invoiced, finalised and rolled.

Work is done in chunks of subscriptions, one transaction each: lock the chunk's subscriptions, one
grouped usage query, periods rolled by a few UPDATEs, invoices written once already issued, with their
lines, in bulk, numbers reserved in one locked block. A
re-run, or a second run at the same time, finds the periods rolled or the invoices there, and
bills nothing twice.
"""
import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from accounts.models import AuditLog
from accounts.services import audit_entry_for, audit_log_record_many
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.invoicing.invoices import (
    invoice_issue_entry,
    invoices_finalize,
    invoices_issue,
    issue_documents_after_commit,
    next_period,
)
from billing.models import Invoice, InvoiceKind, InvoiceStatus, Subscription, SubscriptionStatus
from billing.notifications.customer_webhooks import subscriptions_updated_publish
from billing.pricing import billing_period, plan_on
from billing.selectors import (
    SubscriptionRow,
    invoice_drafts,
    invoice_run_chunks,
    profile_secrets_deferred,
    subscription_rows,
)
from billing.subscriptions.lifecycle import subscriptions_end
from core.gc import cyclic_gc_paused


@dataclass
class RunSummary:
    created: int = 0
    existing: int = 0
    nothing_owed: int = 0
    total_billed: Decimal = Decimal("0.00")
    invoice_ids: list[int] = field(default_factory=list)

    def __add__(self, other: "RunSummary") -> "RunSummary":
        return RunSummary(
            self.created + other.created,
            self.existing + other.existing,
            self.nothing_owed + other.nothing_owed,
            self.total_billed + other.total_billed,
            self.invoice_ids + other.invoice_ids,
        )

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "existing": self.existing,
            "nothing_owed": self.nothing_owed,
            "total_billed": str(self.total_billed),
        }


def _roll(subscriptions: list[SubscriptionRow], period_end: datetime.date) -> list[AuditLog]:
    """Live subscriptions move to their next period, one UPDATE per kind of period; those cancelled at
    period end expire. Returns the audit entries, for the caller to record with the chunk's others."""
    live = [s for s in subscriptions if s.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED)]
    entries = subscriptions_end(_instances([s.pk for s in live if s.cancel_at_period_end]))
    rolled = [s for s in live if not s.cancel_at_period_end]
    by_period = defaultdict(list)
    for subscription in rolled:
        by_period[next_period(subscription, period_end)].append(subscription)
    for following, group in by_period.items():
        Subscription.objects.filter(pk__any=[s.pk for s in group]).update(
            current_period_start=following.start, current_period_end=following.end
        )
        for subscription in group:
            subscription.current_period_start, subscription.current_period_end = following.start, following.end
    entries.extend(
        audit_entry_for(
            action="subscription.renew", model=Subscription, pk=s.pk,
            changes={"period_start": s.current_period_start.isoformat()},
        )
        for s in rolled
    )
    entries.extend(_apply_scheduled_changes(rolled))
    return entries


def _instances(pks: list[int]) -> list[Subscription]:
    """The few subscriptions a step changes through services written for model instances (expiries, scheduled
    plan changes), read as such, with their plan."""
    return list(Subscription.objects.filter(pk__in=pks).select_related("plan").order_by("pk")) if pks else []


def _apply_scheduled_changes(rolled: list[SubscriptionRow]) -> list[AuditLog]:
    """A downgrade scheduled for the end of the period takes effect as its subscription enters the next one:
    one UPDATE per plan taken. Pricing reads the history, so a late run bills the right plan all the same."""
    by_plan, entries = defaultdict(list), []
    for subscription in rolled:
        plan = plan_on(subscription, subscription.current_period_start)
        if plan.pk != subscription.plan_id:
            by_plan[plan].append(subscription.pk)
            entries.append(audit_entry_for(
                action="subscription.change_plan", model=Subscription, pk=subscription.pk,
                changes={"plan": [subscription.plan.code, plan.code], "scheduled": True},
            ))
            subscription.plan = plan
    for plan, pks in by_plan.items():
        Subscription.objects.filter(pk__in=pks).update(plan=plan)
    subscriptions_updated_publish(_instances([pk for pks in by_plan.values() for pk in pks]))
    return entries


def invoice_run_chunk(
    *,
    subscription_ids: list[int],
    period_end: datetime.date,
    now: datetime.datetime,
    dry_run: bool = False,
    issue_documents: bool = True,
) -> RunSummary:
    """Invoice, finalise and roll one chunk in one transaction: all of it happens, or none.

    The invoice counter and the audit chain are locked until commit, so a chunk takes them last: chunks
    on other workers run side by side until then. `issue_documents` queues the PDFs and emails after
    commit (the benchmark turns it off). The cyclic garbage collector waits for the chunk's end (`core.gc`).
    """
    # The collector runs once the chunk's own frame is gone: its objects are garbage then, not survivors.
    with cyclic_gc_paused():
        return _chunk_invoice(
            subscription_ids=subscription_ids, period_end=period_end, now=now, dry_run=dry_run,
            issue_documents=issue_documents,
        )


def _chunk_invoice(
    *, subscription_ids: list[int], period_end: datetime.date, now: datetime.datetime, dry_run: bool,
    issue_documents: bool,
) -> RunSummary:
    with transaction.atomic():
        locked_ids = list(
            Subscription.objects.select_for_update()
            .filter(pk__any=subscription_ids, current_period_end=period_end)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        subscriptions = subscription_rows(locked_ids)
        existing = {
            invoice.subscription_id: invoice
            for invoice in profile_secrets_deferred(Invoice.objects.select_for_update(of=("self",)))
            .filter(subscription_id__any=locked_ids, period_end=period_end, kind=InvoiceKind.PERIOD)
            .exclude(status=InvoiceStatus.CANCELLED)
        }
        drafts = invoice_drafts(
            {sub: billing_period(sub, period_end) for sub in subscriptions if sub.pk not in existing}
        )
        audit_entries = _roll(subscriptions, period_end)
        pending = [invoice for invoice in existing.values() if invoice.status == InvoiceStatus.DRAFT]
        invoices_finalize(pending, now=now, issue_documents=issue_documents)
        # Before the invoice counter is taken: what follows it waits for no one else's chunk to commit.
        customer_cache_invalidate(s.user_id for s in subscriptions)
        created = invoices_issue([draft for draft in drafts if draft.is_billed], now=now)
        audit_log_record_many([*audit_entries, *(invoice_issue_entry(invoice) for invoice in created)])
        if issue_documents and created:
            issue_documents_after_commit([invoice.pk for invoice in created])
        if dry_run:
            transaction.set_rollback(True)
    return RunSummary(
        created=len(created),
        existing=len(existing) + len(subscription_ids) - len(locked_ids),
        nothing_owed=len(drafts) - len(created),
        total_billed=sum((invoice.total for invoice in created), Decimal("0.00")),
        invoice_ids=[invoice.pk for invoice in created],
    )


def invoice_run(
    *,
    period_end: datetime.date,
    customer=None,
    dry_run: bool = False,
    chunk_size: int | None = None,
    issue_documents: bool = True,
    now: datetime.datetime | None = None,
) -> RunSummary:
    """Invoice every subscription period that ended on `period_end`, chunk after chunk, in this process.

    The scheduled run hands the same chunks to workers instead (billing.invoicing.tasks).
    """
    now = now or clock.now()
    summary = RunSummary()
    chunk_size = chunk_size or settings.INVOICE_RUN_CHUNK_SIZE
    for chunk in invoice_run_chunks(period_end=period_end, chunk_size=chunk_size, customer=customer):
        summary += invoice_run_chunk(
            subscription_ids=chunk, period_end=period_end, now=now, dry_run=dry_run, issue_documents=issue_documents
        )
    return summary
