"""The people and the books the admin tests work on: a Finance user, a staff member outside Finance, and a
year of invoices (200 by default) in every state, with their lines, payments, credit notes, emails and audit
rows, dated relative to today so that filters, aging and the dashboard have something in each bucket."""
import datetime
import itertools
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import Group

from accounts.models import AuditLog, User, UserProfile
from accounts.services import audit_entry, audit_log_record_many
from billing import clock
from billing.backoffice.roles import FINANCE_GROUP, finance_group_ensure
from billing.models import (
    CreditNote,
    CreditNoteLine,
    EmailKind,
    EmailNotification,
    EmailStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    Payment,
    PaymentStatus,
    Plan,
    Subscription,
)
from billing.periods import add_months, start_of_day
from billing.tests.factories import BuyerSnapshotFactory

STAFF_PASSWORD = "a-long-staff-passphrase"
# Far above the numbers other test modules draw, so that documents never share a number.
SERIAL = itertools.count(500_001)
# country, VAT number, reverse charge, tax rate
BUYERS = (
    ("FR", "FR40303265045", False, Decimal("0.20")),
    ("DE", "DE136695976", True, Decimal("0")),
    ("US", "", False, Decimal("0")),
    ("BE", "", False, Decimal("0.20")),
)


def finance_group() -> Group:
    """The group migration billing.0004 made; made again from the same definition when a transactional test
    emptied the database since."""
    return Group.objects.filter(name=FINANCE_GROUP).first() or finance_group_ensure()


def finance_user(email: str = "claire.finance@twinmcp.test") -> User:
    user = User.objects.create_user(email=email, password=STAFF_PASSWORD, is_staff=True)
    user.groups.add(finance_group())
    return user


def staff_user(email: str = "sam.support@twinmcp.test") -> User:
    """Staff, so the admin lets them in, but in no group: they may see no billing data."""
    return User.objects.create_user(email=email, password=STAFF_PASSWORD, is_staff=True)


def next_number(prefix: str, year: int) -> str:
    return f"{prefix}-{year}-{next(SERIAL):06d}"


@dataclass
class World:
    customers: list[User]
    subscriptions: list[Subscription]
    invoices: list[Invoice]
    today: datetime.date

    def invoice(self, status: str) -> Invoice:
        return next(invoice for invoice in self.invoices if invoice.status == status)


def make_world(*, invoices: int = 200, customers: int = 20) -> World:
    """`invoices` invoices over the last twelve months for `customers` customers, written in bulk."""
    today = clock.today()
    pro, _ = Plan.objects.get_or_create(
        code="pro", defaults={"name": "Pro", "price": Decimal("19.00"), "included_tokens": 5_000_000,
                              "overage_price_per_million": Decimal("2.00")},
    )
    team, _ = Plan.objects.get_or_create(
        code="team", defaults={"name": "Team", "price": Decimal("99.00"), "included_tokens": 50_000_000,
                               "overage_price_per_million": Decimal("1.50")},
    )
    run = next(SERIAL)
    users = User.objects.bulk_create(
        [User(email=f"customer{run}-{index}@world.test", first_name="Customer", last_name=str(index))
         for index in range(customers)]
    )
    UserProfile.objects.bulk_create(
        [
            UserProfile(
                user=user, full_name=f"Customer {index}", company_name=f"Company {run}-{index}",
                country=BUYERS[index % len(BUYERS)][0], city="Paris",
            )
            for index, user in enumerate(users)
        ]
    )
    month_start = today.replace(day=1)
    subscriptions = Subscription.objects.bulk_create(
        [
            Subscription(
                user=user, plan=team if index % 5 == 0 else pro, current_period_start=month_start,
                current_period_end=add_months(month_start, 1), started_at=start_of_day(add_months(today, -13)),
            )
            for index, user in enumerate(users)
        ]
    )
    rows = []
    for index in range(invoices):
        customer = index % customers
        months_back = 1 + index // customers  # one invoice per customer and month
        period_start = add_months(today, -months_back)
        country, vat_number, reverse_charge, tax_rate = BUYERS[customer % len(BUYERS)]
        subtotal = subscriptions[customer].plan.price + Decimal(index % 7)
        tax = (subtotal * tax_rate).quantize(Decimal("0.01"))
        issue_date = add_months(period_start, 1)
        status = (
            InvoiceStatus.DRAFT if months_back == 1 and index % 4 == 0
            else InvoiceStatus.CANCELLED if index % 17 == 0
            else InvoiceStatus.OVERDUE if index % 5 == 1
            else InvoiceStatus.SENT if index % 5 == 2
            else InvoiceStatus.PAID
        )
        issued = status != InvoiceStatus.DRAFT
        paid = subtotal + tax if status == InvoiceStatus.PAID else Decimal("0.00")
        rows.append(
            Invoice(
                number=next_number("TMCP", issue_date.year) if issued else None,
                user=users[customer], subscription=subscriptions[customer], status=status, currency="EUR",
                period_start=period_start, period_end=issue_date,
                issue_date=issue_date if issued else None,
                due_date=issue_date + datetime.timedelta(days=30) if issued else None,
                subtotal=subtotal, tax_rate=tax_rate, tax_amount=tax, total=subtotal + tax, amount_paid=paid,
                amount_due=subtotal + tax - paid, reverse_charge=reverse_charge,
                buyer_snapshot=BuyerSnapshotFactory(
                    user=users[customer], country=country,
                    details={"name": f"Customer {customer}", "company_name": f"Company {run}-{customer}",
                             "country": country, "vat_number": vat_number, "email": users[customer].email},
                ),
                issue_details={"seller": {"name": "TwinMCP SAS", "country": "FR"}},
                buyer_country=country,
                sent_at=start_of_day(issue_date) if issued else None,
                paid_at=start_of_day(issue_date) + datetime.timedelta(days=9) if status == InvoiceStatus.PAID else None,
            )
        )
    invoice_rows = Invoice.objects.bulk_create(rows)
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice, kind=LineKind.SUBSCRIPTION, description=f"{invoice.subscription.plan.name} plan",
            unit_price=invoice.subtotal, amount=invoice.subtotal,
        )
        for invoice in invoice_rows
    )
    Payment.objects.bulk_create(
        Payment(
            invoice=invoice, user=invoice.user, amount=invoice.total, status=PaymentStatus.COMPLETED,
            idempotency_key=f"world-{invoice.number}", provider_reference=f"VIR {invoice.number}",
            created_at=invoice.paid_at, processed_at=invoice.paid_at,
        )
        for invoice in invoice_rows
        if invoice.status == InvoiceStatus.PAID
    )
    credit_notes = CreditNote.objects.bulk_create(
        CreditNote(
            number=next_number("AV", invoice.issue_date.year), invoice=invoice, subtotal=invoice.subtotal,
            tax_rate=invoice.tax_rate, tax_amount=invoice.tax_amount, amount=invoice.total,
            reason="Billed twice", issue_date=invoice.issue_date + datetime.timedelta(days=3),
        )
        for invoice in invoice_rows
        if invoice.status == InvoiceStatus.CANCELLED
    )
    CreditNoteLine.objects.bulk_create(
        CreditNoteLine(
            credit_note=credit_note, kind=LineKind.SUBSCRIPTION, description="Cancelled fee",
            unit_price=credit_note.subtotal, amount=credit_note.subtotal,
        )
        for credit_note in credit_notes
    )
    EmailNotification.objects.bulk_create(
        EmailNotification(
            key=f"invoice-issued:{invoice.pk}", user=invoice.user, kind=EmailKind.INVOICE_ISSUED, invoice=invoice,
            recipient=invoice.user.email,
            status=EmailStatus.FAILED if index % 23 == 0 else EmailStatus.SENT, attempts=1,
            last_error="SMTPRecipientsRefused: mailbox full" if index % 23 == 0 else "",
        )
        for index, invoice in enumerate(invoice_rows)
        if invoice.is_issued
    )
    audit_log_record_many(
        audit_entry(action="invoice.finalize", obj=invoice, changes={"number": invoice.number})
        for invoice in invoice_rows
        if invoice.is_issued
    )
    return World(customers=users, subscriptions=subscriptions, invoices=invoice_rows, today=today)


def audit_actions(obj) -> list[str]:
    """The actions of the audit rows of `obj`, oldest first."""
    return list(
        AuditLog.objects.filter(object_type=obj._meta.label, object_id=str(obj.pk))
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )


def admin_log_in(page, *, email: str) -> None:
    """Logs a staff user in, with STAFF_PASSWORD, from the admin's login page where the Playwright `page` already is."""
    page.fill("#id_username", email)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
