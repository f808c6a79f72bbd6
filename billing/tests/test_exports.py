"""Accounting exports of October 2026: the CSV files and the FEC, through the admin page as Finance."""
import csv
import datetime
import io
from collections import defaultdict
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import AuditLog
from accounts.tests.factories import UserProfileFactory
from billing import clock
from billing.backoffice.exports import FEC_COLUMNS, ExportPeriod, fec_filename, fec_lines
from billing.models import InvoiceStatus, PaymentMethod, PaymentStatus
from billing.periods import add_months
from billing.services import invoice_cancel
from billing.tests.admin_world import staff_user
from billing.tests.factories import (
    BuyerSnapshotFactory,
    CreditNoteFactory,
    InvoiceFactory,
    PaymentFactory,
    SubscriptionFactory,
)
from billing.tests.test_tax_cases import period_invoice

EXPORTS = reverse("admin:billing_exports")
OCTOBER = {"first_day": "2026-10-01", "last_day": "2026-10-31"}
UTC = datetime.UTC


def fec_amount(text: str) -> Decimal:
    assert "." not in text and "," in text, text
    return Decimal(text.replace(",", "."))


@pytest.fixture
def books(db):
    """Two invoices issued in October (one cancelled by a credit note, one reverse-charged and paid), and
    documents just outside the month on either side."""
    acme = UserProfileFactory(company_name="Acme SARL", country="FR").user
    globex = UserProfileFactory(company_name="Globex GmbH", country="DE").user
    subscriptions = {user: SubscriptionFactory(user=user) for user in (acme, globex)}

    def invoice(user, number, issue_date, **fields):
        return InvoiceFactory(
            subscription=subscriptions[user], number=number, issue_date=issue_date,
            due_date=issue_date + datetime.timedelta(days=30), status=fields.pop("status", InvoiceStatus.SENT),
            buyer_snapshot=BuyerSnapshotFactory(
                user=user, country=user.profile.country,
                details={"email": user.email, "name": user.profile.full_name,
                         "company_name": user.profile.company_name, "country": user.profile.country},
            ),
            **fields,
        )

    cancelled = invoice(acme, "TMCP-2026-000101", datetime.date(2026, 10, 5), status=InvoiceStatus.CANCELLED)
    credit_note = CreditNoteFactory(number="AV-2026-000007", invoice=cancelled, issue_date=datetime.date(2026, 10, 20))
    reverse_charged = invoice(
        globex, "TMCP-2026-000102", datetime.date(2026, 10, 10), subtotal=Decimal("99.00"), tax_rate=Decimal("0"),
        tax_amount=Decimal("0.00"), total=Decimal("99.00"), amount_paid=Decimal("99.00"), amount_due=Decimal("0.00"),
        reverse_charge=True, status=InvoiceStatus.PAID,
    )
    later = invoice(acme, "TMCP-2026-000150", datetime.date(2026, 11, 2))
    InvoiceFactory()  # a draft is in no export
    payment = PaymentFactory(
        invoice=reverse_charged, amount=Decimal("99.00"), status=PaymentStatus.COMPLETED,
        method=PaymentMethod.SEPA_DEBIT, provider_reference="SEPA-7781",
        # 00:30 on 1 October in Paris
        processed_at=datetime.datetime(2026, 9, 30, 22, 30, tzinfo=UTC),
    )
    # 23:30 UTC on 31 October is November in Paris: not October's.
    november_in_paris = datetime.datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    PaymentFactory(invoice=later, status=PaymentStatus.COMPLETED, processed_at=november_in_paris)
    PaymentFactory(invoice=later, status=PaymentStatus.FAILED, processed_at=datetime.datetime(2026, 10, 12, tzinfo=UTC))
    return {"cancelled": cancelled, "credit_note": credit_note, "reverse_charged": reverse_charged, "payment": payment}


def download(client, kind: str, **period):
    return client.get(EXPORTS, {**OCTOBER, **period, "kind": kind})


def csv_rows(response) -> list[dict]:
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def fec_table(response) -> tuple[list[str], list[dict]]:
    text = response.content.decode("utf-8")
    assert text.endswith("\r\n")
    lines = text.split("\r\n")[:-1]
    rows = [line.split("\t") for line in lines]
    assert all(len(row) == 18 for row in rows)
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.django_db
class TestFec:
    def test_is_named_after_the_siren_and_the_closing_date(self, finance_client, books):
        response = download(finance_client, "fec")

        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        expected = f"{settings.SELLER['siren']}FEC20261031.txt"
        assert response["Content-Disposition"] == f'attachment; filename="{expected}"'
        assert fec_filename(siren="303265045", closing_date=datetime.date(2026, 12, 31)) == "303265045FEC20261231.txt"

    def test_has_the_eighteen_columns_tab_separated(self, finance_client, books):
        header, rows = fec_table(download(finance_client, "fec"))

        assert tuple(header) == FEC_COLUMNS
        assert header == [
            "JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib", "CompAuxNum",
            "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit", "EcritureLet", "DateLet",
            "ValidDate", "Montantdevise", "Idevise",
        ]
        assert rows
        for row in rows:
            assert all(len(row[column]) == 8 and row[column].isdigit() for column in ("EcritureDate", "PieceDate"))
            assert row["EcritureDate"].startswith("202610")

    def test_balances_to_zero_entry_by_entry(self, finance_client, books):
        _, rows = fec_table(download(finance_client, "fec"))

        balance = defaultdict(Decimal)
        for row in rows:
            balance[row["EcritureNum"]] += fec_amount(row["Debit"]) - fec_amount(row["Credit"])
        assert sum(fec_amount(row["Debit"]) for row in rows) == sum(fec_amount(row["Credit"]) for row in rows)
        assert set(balance.values()) == {Decimal(0)}
        assert sorted(balance) == ["BQ000001", "VT000001", "VT000002", "VT000003"]

    def test_one_entry_per_invoice_credit_note_and_payment(self, finance_client, books):
        _, rows = fec_table(download(finance_client, "fec"))

        def entry(piece_ref):
            return [
                (row["JournalCode"], row["CompteNum"], row["CompAuxNum"], row["Debit"], row["Credit"])
                for row in rows
                if row["PieceRef"] == piece_ref
            ]

        acme = f"C{books['cancelled'].user_id:06d}"
        globex = f"C{books['reverse_charged'].user_id:06d}"
        assert entry("TMCP-2026-000101") == [
            ("VT", "411", acme, "22,80", "0,00"),
            ("VT", "706", "", "0,00", "19,00"),
            ("VT", "44571", "", "0,00", "3,80"),
        ]
        assert entry("AV-2026-000007") == [  # the invoice's entry, reversed
            ("VT", "411", acme, "0,00", "22,80"),
            ("VT", "706", "", "19,00", "0,00"),
            ("VT", "44571", "", "3,80", "0,00"),
        ]
        assert entry("TMCP-2026-000102") == [  # reverse charge: no VAT line
            ("VT", "411", globex, "99,00", "0,00"), ("VT", "706", "", "0,00", "99,00"),
        ]
        assert entry("SEPA-7781") == [("BQ", "512", "", "99,00", "0,00"), ("BQ", "411", globex, "0,00", "99,00")]
        assert {row["CompAuxLib"] for row in rows if row["CompteNum"] == "411"} == {"Acme SARL", "Globex GmbH"}
        assert "TMCP-2026-000150" not in {row["PieceRef"] for row in rows}

    @pytest.mark.parametrize("sign", ["=", "@", "+", "-"])
    def test_a_company_name_a_spreadsheet_would_run_as_a_formula_is_quoted(self, finance_client, books, sign):
        invoice = books["reverse_charged"]
        company = f'{sign}HYPERLINK("https://evil.example","Click")'
        invoice.buyer_snapshot = BuyerSnapshotFactory(
            user=invoice.user, details={**invoice.billing_details["buyer"], "company_name": company}
        )
        invoice.save(update_fields=["buyer_snapshot"])
        payment = books["payment"]
        payment.provider_reference = f"{sign}cmd|' /C calc'!A0"
        payment.save(update_fields=["provider_reference"])

        _, rows = fec_table(download(finance_client, "fec"))

        globex = f"C{invoice.user_id:06d}"
        assert {row["CompAuxLib"] for row in rows if row["CompAuxNum"] == globex} == {f"'{company}"}
        assert {row["PieceRef"] for row in rows if row["JournalCode"] == "BQ"} == {f"'{sign}cmd|' /C calc'!A0"}
        assert not [field for row in rows for field in row.values() if field.startswith(("=", "@", "+", "-"))]
        assert sum(fec_amount(row["Debit"]) for row in rows) == sum(fec_amount(row["Credit"]) for row in rows)

    def test_entries_are_numbered_per_journal_in_date_order(self, books):
        lines = fec_lines(ExportPeriod(datetime.date(2026, 10, 1), datetime.date(2026, 10, 31)))

        numbers = [(line.entry_number, line.entry_date) for line in lines if line.journal[0] == "VT"]
        assert [number for number, _ in dict(numbers).items()] == ["VT000001", "VT000002", "VT000003"]
        assert [day for _, day in dict(numbers).items()] == sorted(day for _, day in dict(numbers).items())


@pytest.mark.django_db
class TestCsv:
    def test_invoices_issued_in_the_period(self, finance_client, books):
        response = download(finance_client, "invoices")

        assert response["Content-Disposition"] == 'attachment; filename="invoices-20261001-20261031.csv"'
        rows = csv_rows(response)
        assert [(row["number"], row["status"], row["total"], row["credit_note"], row["country"]) for row in rows] == [
            ("TMCP-2026-000101", "CANCELLED", "22.80", "AV-2026-000007", "FR"),
            ("TMCP-2026-000102", "PAID", "99.00", "", "DE"),
        ]
        assert rows[1]["reverse_charge"] == "yes" and rows[1]["company"] == "Globex GmbH"

    def test_text_a_spreadsheet_would_run_as_a_formula_is_quoted(self, finance_client, books):
        invoice = books["reverse_charged"]
        invoice.buyer_snapshot = BuyerSnapshotFactory(user=invoice.user, details={
            **invoice.billing_details["buyer"], "company_name": '=HYPERLINK("https://evil.example","Click")'
        })
        invoice.save(update_fields=["buyer_snapshot"])

        rows = csv_rows(download(finance_client, "invoices"))

        assert rows[1]["company"] == '\'=HYPERLINK("https://evil.example","Click")'
        assert rows[1]["total"] == "99.00"

    def test_credit_notes_issued_in_the_period(self, finance_client, books):
        rows = csv_rows(download(finance_client, "credit_notes"))

        assert [(row["number"], row["invoice_number"], row["amount"], row["reason"]) for row in rows] == [
            ("AV-2026-000007", "TMCP-2026-000101", "22.80", "Billed twice")
        ]

    def test_payments_settled_in_the_period_by_the_paris_day(self, finance_client, books):
        rows = csv_rows(download(finance_client, "payments"))

        assert [(row["processed_date"], row["invoice_number"], row["amount"], row["method"]) for row in rows] == [
            ("2026-10-01", "TMCP-2026-000102", "99.00", "SEPA_DEBIT")
        ]


@pytest.mark.django_db
class TestExportPage:
    def test_shows_the_form_for_the_previous_month(self, finance_client):
        response = finance_client.get(EXPORTS)

        assert response.status_code == 200
        initial = response.context["form"].initial
        this_month = clock.today().replace(day=1)
        assert initial["first_day"] == add_months(this_month, -1)
        assert initial["last_day"] == this_month - datetime.timedelta(days=1)

    def test_a_period_ending_before_it_starts_is_refused(self, finance_client):
        response = download(finance_client, "fec", first_day="2026-10-31", last_day="2026-10-01")

        assert response.status_code == 200
        assert response.context["form"].errors

    def test_who_exported_what_is_audited(self, finance_client, finance, books):
        download(finance_client, "fec")

        entry = AuditLog.objects.get(action="billing.export")
        assert entry.actor == finance
        assert entry.changes == {"kind": "fec", "first_day": "2026-10-01", "last_day": "2026-10-31"}

    def test_staff_outside_finance_are_refused(self, client, books):
        client.force_login(staff_user())

        assert download(client, "fec").status_code == 403
        assert client.get(EXPORTS).status_code == 403


@pytest.mark.django_db
class TestFecVatPerCountry:
    """With the One-Stop Shop, October 2026 invoiced on 1 November (Pro, 6,500,000 tokens: 22.00 before VAT) to a
    French, a German and a Finnish consumer; the Finnish invoice is cancelled on 10 November."""

    @pytest.fixture
    def november(self, settings):
        settings.OSS_REGISTERED = True
        invoices = {
            country: period_invoice(company_name="", country=country, user__email=f"{country.lower()}@example.com")
            for country in ("FR", "DE", "FI")
        }
        invoice_cancel(invoice=invoices["FI"], reason="Billed twice", now=datetime.datetime(2026, 11, 10, tzinfo=UTC))
        return fec_lines(ExportPeriod(datetime.date(2026, 11, 1), datetime.date(2026, 11, 30)))

    def test_each_member_states_vat_is_on_its_own_account(self, november):
        vat_lines = [
            (line.piece_ref[:2], line.account, line.debit, line.credit)
            for line in november
            if line.account[0].startswith("44571")
        ]

        assert sorted(vat_lines) == sorted([
            ("TM", ("44571", "TVA collectée"), Decimal("0.00"), Decimal("4.40")),
            ("TM", ("44571DE", "TVA due OSS DE"), Decimal("0.00"), Decimal("4.18")),
            ("TM", ("44571FI", "TVA due OSS FI"), Decimal("0.00"), Decimal("5.61")),
            ("AV", ("44571FI", "TVA due OSS FI"), Decimal("5.61"), Decimal("0.00")),  # the credit note reverses it
        ])

    def test_every_entry_still_balances(self, november):
        balance = defaultdict(Decimal)
        for line in november:
            balance[line.entry_number] += line.debit - line.credit

        assert len(balance) == 4 and set(balance.values()) == {Decimal(0)}
        assert sum(line.debit for line in november if line.account[0] == "411") == Decimal("26.40") + Decimal(
            "26.18"
        ) + Decimal("27.61")

    def test_without_oss_an_eu_consumers_french_vat_is_on_44571(self, settings):
        settings.OSS_REGISTERED = False
        period_invoice(company_name="", country="DE")

        lines = fec_lines(ExportPeriod(datetime.date(2026, 11, 1), datetime.date(2026, 11, 30)))

        assert [(line.account, line.credit) for line in lines if line.account[0].startswith("44571")] == [
            (("44571", "TVA collectée"), Decimal("4.40"))
        ]
