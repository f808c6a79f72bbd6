"""Customer emails: each kind in the customer's language with its figures, sent once, failures recorded.

The invoice is Pro for October 2026: 19.00 + 20 % VAT = 22.80 EUR, issued 1 November, due 1 December 2026.
"""
import datetime
import gettext
import re
import smtplib
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.files.base import ContentFile
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from accounts.tests.factories import UserFactory, make_customer
from billing.exceptions import BillingError
from billing.models import CreditNote, EmailKind, EmailNotification, EmailStatus, Invoice, InvoiceStatus
from billing.notifications.emails import EmailDeliveryFailed, email_deliver, email_queue
from billing.notifications.tasks import email_deliver_task
from billing.tests.factories import InvoiceFactory

FAKE_PDF = b"%PDF-1.4 fake invoice\n%%EOF\n"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
CATALOGUE = Path(django_settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES"

# The PDFs attached are written under a folder of the test's own.
pytestmark = pytest.mark.usefixtures("media")


class DisconnectedBackend(LocmemBackend):
    """A mail server that hangs up on every message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class HangsUpOnceBackend(LocmemBackend):
    """A mail server that hangs up on the first message it is given, then accepts every one."""

    calls = 0

    def send_messages(self, email_messages):
        type(self).calls += 1
        if type(self).calls == 1:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(email_messages)


@pytest.fixture
def queue(django_capture_on_commit_callbacks):
    """`email_queue` as a committed transaction sees it: the delivery scheduled on commit runs (eager Celery)."""

    def queue_and_commit(**kwargs) -> EmailNotification:
        with django_capture_on_commit_callbacks(execute=True):
            return email_queue(**kwargs)

    return queue_and_commit


# The customer the emails go to (in English unless language= says otherwise).
customer = partial(make_customer, full_name="Camille Martin", billing_email="accounts@acme.example")


def issued_invoice(user, **fields) -> Invoice:
    """Pro for October 2026, 22.80 EUR, issued 1 November and due 1 December 2026."""
    issued = {
        "status": InvoiceStatus.SENT,
        "number": "TMCP-2026-000001",
        "issue_date": datetime.date(2026, 11, 1),
        "due_date": datetime.date(2026, 12, 1),
    }
    return InvoiceFactory(subscription__user=user, **(issued | fields))


def html_of(message) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return content


SITE = "https://billing.twinmcp.example"
IBAN = "FR76 3000 6000 0112 3456 7890 189"
PAY_BY_TRANSFER = {
    "en": f"Pay by bank transfer to IBAN {IBAN}, BIC AGRIFRPPXXX, quoting the reference TMCP-2026-000001.",
    "fr": f"Réglez par virement bancaire sur l'IBAN {IBAN}, BIC AGRIFRPPXXX, en indiquant la référence "
          "TMCP-2026-000001.",
}
VIEW_AND_PAY = {"en": "View and pay", "fr": "Voir et payer"}
VIEW_INVOICE = {"en": "View the invoice", "fr": "Voir la facture"}
INVOICE_PAGE = "/billing/invoices/{invoice}/"


@pytest.fixture(autouse=True)
def _site_and_bank(settings):
    settings.SITE_URL = SITE
    settings.SELLER = {**settings.SELLER, "iban": "FR7630006000011234567890189", "bic": "AGRIFRPPXXX"}


@dataclass(frozen=True)
class Case:
    """One email: what the caller gives, and what the customer reads in each language."""

    id: str
    kind: str
    context: dict
    subject: dict[str, str]
    # Figures read in both bodies; phrases in the plain text only (HTML escapes apostrophes).
    figures: dict[str, list[str]]
    phrases: dict[str, list[str]] = field(default_factory=dict)
    invoice: dict | None = field(default_factory=dict)  # fields of the issued invoice; None: no invoice
    # The link of the email: its text in each language and its page ({invoice}: the invoice's id).
    action: dict[str, str] = field(default_factory=lambda: VIEW_AND_PAY)
    page: str = INVOICE_PAGE
    pays_by_transfer: bool = True  # the bank details and the invoice number as reference are given


NUMBER = "TMCP-2026-000001"
OVERDUE = {"status": InvoiceStatus.OVERDUE}
USAGE_OF_OCTOBER = {
    "tokens_used": 5_000_000,
    "included_tokens": 5_000_000,
    "period_start_date": datetime.date(2026, 10, 1),
    "period_end_date": datetime.date(2026, 11, 1),
    "currency": "EUR",
}
USAGE_EMAIL = {
    "invoice": None, "action": {"en": "See your usage", "fr": "Voir votre consommation"}, "page": "/billing/",
    "pays_by_transfer": False,
}
FULL_USAGE_SUBJECT = {
    "en": "You have used 100% of your TwinMCP tokens",
    "fr": "Vous avez utilisé 100 % de vos jetons TwinMCP",
}
CASES = [
    Case(
        id="invoice-issued",
        kind=EmailKind.INVOICE_ISSUED,
        context={},
        subject={"en": f"Your TwinMCP invoice {NUMBER}", "fr": f"Votre facture TwinMCP {NUMBER}"},
        figures={
            "en": [NUMBER, "October 2026", "22.80 EUR", "1 December 2026"],
            "fr": [NUMBER, "octobre 2026", "22,80 EUR", "1er décembre 2026"],
        },
        phrases={
            "en": ["Total incl. VAT: 22.80 EUR", "Amount due: 22.80 EUR", "Please pay 22.80 EUR by 1 December 2026."],
            "fr": ["Total TTC\u00a0: 22,80 EUR", "Montant dû\u00a0: 22,80 EUR",
                   "Merci de régler 22,80 EUR au plus tard le 1er décembre 2026."],
        },
    ),
    Case(
        id="invoice-issued-covered-by-credits",
        kind=EmailKind.INVOICE_ISSUED,
        context={},
        invoice={"status": InvoiceStatus.PAID, "credit_applied": Decimal("22.80"), "amount_due": Decimal("0.00")},
        subject={"en": f"Your TwinMCP invoice {NUMBER}", "fr": f"Votre facture TwinMCP {NUMBER}"},
        figures={"en": [NUMBER, "22.80 EUR", "0.00 EUR"], "fr": [NUMBER, "22,80 EUR", "0,00 EUR"]},
        phrases={
            "en": ["Nothing is left to pay: your credits cover this invoice."],
            "fr": ["Vous n'avez rien à régler\u00a0: vos crédits couvrent cette facture."],
        },
        action=VIEW_INVOICE,
        pays_by_transfer=False,
    ),
    Case(
        id="credit-note-issued",
        kind=EmailKind.CREDIT_NOTE_ISSUED,
        context={"credit_note_number": "AV-2026-000001", "amount": Decimal("22.80"), "reason": "Billed twice"},
        invoice={"status": InvoiceStatus.CANCELLED},
        subject={
            "en": f"Credit note AV-2026-000001 for invoice {NUMBER}",
            "fr": f"Avoir AV-2026-000001 sur la facture {NUMBER}",
        },
        figures={
            "en": ["AV-2026-000001", NUMBER, "22.80 EUR", "Billed twice"],
            "fr": ["AV-2026-000001", NUMBER, "22,80 EUR", "Billed twice"],
        },
        phrases={
            "en": [f"credit note AV-2026-000001 of 22.80 EUR, which cancels invoice {NUMBER}."],
            "fr": [f"l'avoir AV-2026-000001 d'un montant de 22,80 EUR, qui annule la facture {NUMBER}."],
        },
        action=VIEW_INVOICE,
        pays_by_transfer=False,
    ),
    Case(
        id="credit-note-issued-with-a-reason-from-the-list",
        kind=EmailKind.CREDIT_NOTE_ISSUED,
        context={
            "credit_note_number": "AV-2026-000001", "amount": Decimal("22.80"), "reason_code": "BILLING_ERROR",
            "reason": "VAT at 10 %",
        },
        invoice={"status": InvoiceStatus.CANCELLED},
        subject={
            "en": f"Credit note AV-2026-000001 for invoice {NUMBER}",
            "fr": f"Avoir AV-2026-000001 sur la facture {NUMBER}",
        },
        figures={
            "en": ["AV-2026-000001", "Billing error — VAT at 10 %"],
            "fr": ["AV-2026-000001", "Erreur de facturation — VAT at 10 %"],
        },
        action=VIEW_INVOICE,
        pays_by_transfer=False,
    ),
    Case(
        id="payment-received",
        kind=EmailKind.PAYMENT_RECEIVED,
        context={"amount": Decimal("10.00")},
        invoice={"amount_paid": Decimal("10.00"), "amount_due": Decimal("12.80")},
        subject={"en": f"Payment received for invoice {NUMBER}", "fr": f"Paiement reçu pour la facture {NUMBER}"},
        figures={"en": [NUMBER, "10.00 EUR", "12.80 EUR"], "fr": [NUMBER, "10,00 EUR", "12,80 EUR"]},
        phrases={
            "en": ["we have received your payment of 10.00 EUR", "Remaining to pay: 12.80 EUR"],
            "fr": ["nous avons bien reçu votre paiement de 10,00 EUR", "Reste à payer\u00a0: 12,80 EUR"],
        },
    ),
    Case(
        id="payment-received-in-full",
        kind=EmailKind.PAYMENT_RECEIVED,
        context={"amount": Decimal("22.80")},
        invoice={"status": InvoiceStatus.PAID, "amount_paid": Decimal("22.80"), "amount_due": Decimal("0.00")},
        subject={"en": f"Payment received for invoice {NUMBER}", "fr": f"Paiement reçu pour la facture {NUMBER}"},
        figures={"en": [NUMBER, "22.80 EUR"], "fr": [NUMBER, "22,80 EUR"]},
        phrases={"en": ["This invoice is now fully paid."], "fr": ["Cette facture est désormais entièrement réglée."]},
        action=VIEW_INVOICE,
        pays_by_transfer=False,
    ),
    Case(
        id="payment-failed",
        kind=EmailKind.PAYMENT_FAILED,
        context={"amount": Decimal("22.80"), "reason": "Card declined"},
        subject={"en": f"Payment failed for invoice {NUMBER}", "fr": f"Échec du paiement de la facture {NUMBER}"},
        figures={
            "en": [NUMBER, "22.80 EUR", "Card declined", "1 December 2026"],
            "fr": [NUMBER, "22,80 EUR", "Card declined", "1er décembre 2026"],
        },
        phrases={
            "en": ["could not be processed", "again or by bank transfer"],
            "fr": ["n'a pas pu être traité", "ou par virement bancaire"],
        },
    ),
    Case(
        id="payment-failed-refused-by-the-provider",
        kind=EmailKind.PAYMENT_FAILED,
        # The reason billing/payments/provider_events.py writes when the provider gives none.
        context={"amount": Decimal("22.80"), "reason": "refused by the payment provider"},
        subject={"en": f"Payment failed for invoice {NUMBER}", "fr": f"Échec du paiement de la facture {NUMBER}"},
        figures={"en": [NUMBER, "22.80 EUR"], "fr": [NUMBER, "22,80 EUR"]},
        phrases={
            "en": ["Reason: refused by the payment provider"],
            "fr": ["Motif\u00a0: refusé par le prestataire de paiement"],
        },
    ),
    Case(
        id="reminder-3-days-before",
        kind=EmailKind.PAYMENT_REMINDER,
        context={"days_from_due": -3, "stage": "upcoming"},
        subject={
            "en": f"Reminder: invoice {NUMBER} is due on 1 December 2026",
            "fr": f"Rappel\u00a0: la facture {NUMBER} arrive à échéance le 1er décembre 2026",
        },
        figures={"en": [NUMBER, "22.80 EUR", "1 December 2026"], "fr": [NUMBER, "22,80 EUR", "1er décembre 2026"]},
        phrases={
            "en": [f"Your invoice {NUMBER} is due in 3 days."],
            "fr": [f"Votre facture {NUMBER} arrive à échéance dans 3 jours."],
        },
    ),
    Case(
        id="reminder-1-day-after",
        kind=EmailKind.PAYMENT_REMINDER,
        context={"days_from_due": 1, "stage": "first"},
        invoice=OVERDUE,
        subject={
            "en": f"Overdue: invoice {NUMBER} was due on 1 December 2026",
            "fr": f"Relance\u00a0: la facture {NUMBER} était à régler le 1er décembre 2026",
        },
        figures={"en": [NUMBER, "22.80 EUR", "1 December 2026"], "fr": [NUMBER, "22,80 EUR", "1er décembre 2026"]},
        phrases={
            "en": [f"Your invoice {NUMBER} is 1 day overdue.", "Please pay 22.80 EUR as soon as possible."],
            "fr": [f"Votre facture {NUMBER} est échue depuis 1 jour.",
                   "Merci de régler 22,80 EUR dans les meilleurs délais."],
        },
    ),
    Case(
        id="reminder-7-days-after",
        kind=EmailKind.PAYMENT_REMINDER,
        context={"days_from_due": 7, "stage": "second"},
        invoice=OVERDUE,
        subject={
            "en": f"Second reminder: invoice {NUMBER} is overdue and late fees apply",
            "fr": f"Deuxième relance\u00a0: la facture {NUMBER} est en retard et des pénalités de retard s'appliquent",
        },
        figures={"en": [NUMBER, "22.80 EUR"], "fr": [NUMBER, "22,80 EUR"]},
        phrases={
            "en": [f"Your invoice {NUMBER} is 7 days overdue and we have still not received your payment.",
                   "Please pay 22.80 EUR without delay.",
                   "Late-payment penalties at the legal rate of 12.15% per year now run from the day after the due "
                   "date, and the fixed recovery indemnity of 40 EUR is due"],
            "fr": [f"Votre facture {NUMBER} est échue depuis 7 jours et nous n'avons toujours pas reçu votre paiement.",
                   "Merci de régler 22,80 EUR sans délai.",
                   "Des pénalités de retard au taux légal de 12,15\xa0% par an courent désormais depuis le lendemain "
                   "de la date d'échéance, et l'indemnité forfaitaire pour frais de recouvrement de 40 EUR est due"],
        },
    ),
    Case(
        id="reminder-15-days-after",
        kind=EmailKind.PAYMENT_REMINDER,
        context={"days_from_due": 15, "stage": "final"},
        invoice=OVERDUE,
        subject={
            "en": f"Final notice: invoice {NUMBER} is unpaid and your access may be suspended",
            "fr": f"Dernier avis\u00a0: la facture {NUMBER} est impayée et votre accès pourra être suspendu",
        },
        figures={"en": [NUMBER, "22.80 EUR"], "fr": [NUMBER, "22,80 EUR"]},
        phrases={
            "en": [f"Final notice: your invoice {NUMBER} is 15 days overdue.",
                   "fixed recovery indemnity of 40 EUR is due",
                   "metered access for your API keys may be suspended"],
            "fr": [f"Dernier avis\u00a0: votre facture {NUMBER} est échue depuis 15 jours.",
                   "frais de recouvrement de 40 EUR est due",
                   "l'accès facturé à l'usage de vos clés d'API pourra être suspendu"],
        },
    ),
    Case(
        id="usage-threshold",
        kind=EmailKind.USAGE_THRESHOLD,
        context={**USAGE_OF_OCTOBER, "percent": 80, "tokens_used": 4_000_000,
                 "overage_price_per_million": Decimal("2.00")},
        subject={
            "en": "You have used 80% of your TwinMCP tokens",
            "fr": "Vous avez utilisé 80 % de vos jetons TwinMCP",
        },
        figures={
            "en": ["4,000,000", "5,000,000", "October 2026"],
            "fr": ["4\xa0000\xa0000", "5\xa0000\xa0000", "octobre 2026"],
        },
        phrases={"en": ["(80%)"], "fr": ["(80 %)"]},
        **USAGE_EMAIL,
    ),
    Case(
        id="usage-all-used-with-overage",
        kind=EmailKind.USAGE_THRESHOLD,
        context={**USAGE_OF_OCTOBER, "percent": 100, "overage_price_per_million": Decimal("2.0000")},
        subject=FULL_USAGE_SUBJECT,
        figures={"en": ["5,000,000", "October 2026"], "fr": ["5\xa0000\xa0000", "octobre 2026"]},
        phrases={
            "en": ["Further tokens are billed at 2.00 EUR per million, on your next invoice."],
            "fr": ["Les jetons supplémentaires sont facturés 2,00 EUR par million, sur votre prochaine facture."],
        },
        **USAGE_EMAIL,
    ),
    Case(
        id="usage-all-used-on-a-hard-cap",
        kind=EmailKind.USAGE_THRESHOLD,
        context={**USAGE_OF_OCTOBER, "percent": 100, "overage_price_per_million": Decimal("0.0000")},
        subject=FULL_USAGE_SUBJECT,
        figures={"en": ["5,000,000", "October 2026"], "fr": ["5\xa0000\xa0000", "octobre 2026"]},
        phrases={
            "en": ["further calls are refused until 1 November 2026, when your included tokens renew."],
            "fr": ["les appels suivants sont refusés jusqu'au 1er novembre 2026, date à laquelle vos jetons inclus "
                   "sont renouvelés."],
        },
        **USAGE_EMAIL,
    ),
    Case(
        id="spend-cap-reached",
        kind=EmailKind.SPEND_CAP_REACHED,
        context={
            "spend_cap": Decimal("50.00"),
            "currency": "EUR",
            "period_start_date": datetime.date(2026, 10, 1),
            "period_end_date": datetime.date(2026, 11, 1),
        },
        invoice=None,
        subject={
            "en": "You have reached your TwinMCP spend cap of 50.00 EUR",
            "fr": "Vous avez atteint votre plafond de dépenses TwinMCP de 50,00 EUR",
        },
        figures={
            "en": ["50.00 EUR", "October 2026", "1 November 2026"],
            "fr": ["50,00 EUR", "octobre 2026", "1er novembre 2026"],
        },
        phrases={
            "en": ["calls made with your API keys are refused until 1 November 2026",
                   "Spend cap: 50.00 EUR", "raise or remove the monthly overage cap on your account page"],
            "fr": ["sont refusés jusqu'au 1er novembre 2026", "Plafond de dépenses\u00a0: 50,00 EUR",
                   "relevez ou supprimez le plafond mensuel de dépassement depuis votre espace client"],
        },
        action={"en": "Change your spend cap", "fr": "Modifier votre plafond de dépenses"},
        page="/account/",
        pays_by_transfer=False,
    ),
    Case(
        id="subscription-expiring",
        kind=EmailKind.SUBSCRIPTION_EXPIRING,
        # The period ends (excluded) on 1 January: its last day, the one the customer reads, is 31 December.
        context={"plan_name": "Pro", "end_date": datetime.date(2027, 1, 1)},
        invoice=None,
        subject={
            "en": "Your TwinMCP Pro subscription ends on 31 December 2026",
            "fr": "Votre abonnement TwinMCP Pro prend fin le 31 décembre 2026",
        },
        figures={"en": ["Pro", "31 December 2026"], "fr": ["Pro", "31 décembre 2026"]},
        phrases={
            "en": ["your API keys keep working", "Last day: 31 December 2026",
                   "choose a plan again from your billing page by 31 December 2026."],
            "fr": ["vos clés d'API continuent de fonctionner", "Dernier jour\u00a0: 31 décembre 2026",
                   "depuis votre espace de facturation au plus tard le 31 décembre 2026."],
        },
        action={"en": "Choose a plan", "fr": "Choisir un forfait"},
        page="/billing/plan/",
        pays_by_transfer=False,
    ),
]


@pytest.mark.django_db
class TestEachKind:
    @pytest.mark.parametrize("language", ["en", "fr"])
    @pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
    def test_is_sent_in_the_customers_language_with_its_figures(self, queue, case: Case, language: str):
        user = customer(language=language)
        invoice = issued_invoice(user, **case.invoice) if case.invoice is not None else None

        notification = queue(kind=case.kind, key=case.id, user=user, context=case.context, invoice=invoice)

        [message] = mail.outbox
        assert message.subject == case.subject[language]
        assert message.to == ["accounts@acme.example"]
        assert message.from_email == django_settings.DEFAULT_FROM_EMAIL
        html = html_of(message)
        for figure in case.figures[language]:
            assert figure in message.body
            assert figure in html
        for phrase in case.phrases.get(language, []):
            assert phrase in message.body
        greeting = {"en": "Hello Camille Martin,", "fr": "Bonjour Camille Martin,"}[language]
        assert message.body.startswith(greeting)
        assert f'<html lang="{language}">' in html
        assert django_settings.SELLER["name"] in message.body and django_settings.SELLER["name"] in html
        notification.refresh_from_db()
        assert (notification.status, notification.attempts, notification.language) == (EmailStatus.SENT, 1, language)
        assert notification.subject == message.subject
        assert notification.sent_at is not None

    @pytest.mark.parametrize("language", ["en", "fr"])
    @pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
    def test_links_to_its_page_and_says_how_to_pay(self, queue, case: Case, language: str):
        user = customer(language=language)
        invoice = issued_invoice(user, **case.invoice) if case.invoice is not None else None

        queue(kind=case.kind, key=case.id, user=user, context=case.context, invoice=invoice)

        [message] = mail.outbox
        html = unescape(html_of(message))
        link = SITE + case.page.format(invoice=invoice.pk if invoice else None)
        assert f"\n{case.action[language]}\n{link}\n" in message.body
        assert f'<a href="{link}"' in html and f">{case.action[language]}</a>" in html
        if case.pays_by_transfer:
            assert PAY_BY_TRANSFER[language] in message.body and PAY_BY_TRANSFER[language] in html
        else:
            assert "IBAN" not in message.body and "IBAN" not in html


@pytest.mark.django_db
class TestReminders:
    def test_the_three_reminders_after_the_due_date_escalate_with_distinct_subjects_and_bodies(self, queue):
        user = customer()
        invoice = issued_invoice(user, status=InvoiceStatus.OVERDUE)

        for days, stage in ((1, "first"), (7, "second"), (15, "final")):
            queue(kind=EmailKind.PAYMENT_REMINDER, key=f"reminder:{days}", user=user, invoice=invoice,
                  context={"days_from_due": days, "stage": stage})

        first, second, final = mail.outbox
        assert len({first.subject, second.subject, final.subject}) == 3
        assert "late fees" not in first.subject and "indemnity" not in first.body
        assert "late fees apply" in second.subject and "recovery indemnity of 40 EUR" in second.body
        assert "suspended" not in second.body
        assert "may be suspended" in final.subject and "may be suspended" in final.body


@pytest.mark.django_db
class TestRecipientAndContext:
    def test_without_a_billing_email_the_login_email_receives_it(self, queue):
        user = customer(billing_email="")
        queue(kind=EmailKind.INVOICE_ISSUED, key="invoice-issued:1", user=user, context={},
              invoice=issued_invoice(user))

        assert mail.outbox[0].to == [user.email]

    def test_a_customer_without_profile_gets_english_at_the_login_email(self, queue):
        user = UserFactory()
        notification = queue(kind=EmailKind.SUBSCRIPTION_EXPIRING, key="expiring:1", user=user,
                             context={"plan_name": "Pro", "end_date": datetime.date(2026, 11, 1)})

        assert (notification.recipient, notification.language) == (user.email, "en")
        assert mail.outbox[0].subject == "Your TwinMCP Pro subscription ends on 31 October 2026"

    def test_the_context_is_stored_as_plain_json_values(self, queue):
        user = customer()
        invoice = issued_invoice(user)
        notification = queue(kind=EmailKind.PAYMENT_FAILED, key=f"payment-failed:{invoice.pk}", user=user,
                             context={"amount": Decimal("22.80"), "reason": "Card declined"}, invoice=invoice)

        notification.refresh_from_db()
        assert notification.context["amount"] == "22.80"
        assert notification.context["due_date"] == "2026-12-01"
        assert notification.context["invoice_number"] == NUMBER
        assert notification.invoice == invoice

    def test_a_missing_figure_is_refused_before_anything_is_recorded(self, queue):
        user = customer()
        with pytest.raises(BillingError, match="percent"):
            queue(kind=EmailKind.USAGE_THRESHOLD, key="usage:1", user=user, context={"tokens_used": 1})

        assert not EmailNotification.objects.exists()
        assert mail.outbox == []

    def test_an_unknown_kind_is_refused(self, queue):
        with pytest.raises(BillingError, match="not an email kind"):
            queue(kind="NEWSLETTER", key="news:1", user=customer(), context={})


@pytest.mark.django_db
class TestAttachments:
    def test_the_invoice_email_carries_the_invoice_pdf(self, queue):
        user = customer(language="fr")
        invoice = issued_invoice(user)
        invoice.pdf.save("x.pdf", ContentFile(FAKE_PDF))

        queue(kind=EmailKind.INVOICE_ISSUED, key=f"invoice-issued:{invoice.pk}", user=user, context={},
              invoice=invoice)

        [message] = mail.outbox
        assert message.attachments == [(f"{NUMBER}.pdf", FAKE_PDF, "application/pdf")]
        assert f"Vous trouverez le PDF en pièce jointe\u00a0: {NUMBER}.pdf." in message.body

    def test_the_credit_note_email_carries_the_credit_note_pdf_and_figures(self, queue):
        user = customer()
        invoice = issued_invoice(user, status=InvoiceStatus.CANCELLED)
        credit_note = CreditNote.objects.create(
            number="AV-2026-000001", invoice=invoice, subtotal=Decimal("19.00"), tax_rate=Decimal("0.2000"),
            tax_amount=Decimal("3.80"), amount=Decimal("22.80"), reason="Billed twice",
            issue_date=datetime.date(2026, 11, 3),
        )
        credit_note.pdf.save("x.pdf", ContentFile(FAKE_PDF))

        queue(kind=EmailKind.CREDIT_NOTE_ISSUED, key=f"credit-note-issued:{credit_note.pk}", user=user,
              context={"credit_note_number": "AV-2026-000001", "amount": Decimal("22.80"), "reason": "Billed twice"},
              invoice=invoice)

        [message] = mail.outbox
        assert message.attachments == [("AV-2026-000001.pdf", FAKE_PDF, "application/pdf")]
        assert message.subject == f"Credit note AV-2026-000001 for invoice {NUMBER}"
        assert "Reason: Billed twice" in message.body

    def test_without_a_pdf_yet_the_email_goes_without_attachment_and_says_none(self, queue):
        user = customer()
        invoice = issued_invoice(user)

        queue(kind=EmailKind.INVOICE_ISSUED, key=f"invoice-issued:{invoice.pk}", user=user, context={},
              invoice=invoice)

        [message] = mail.outbox
        assert message.attachments == []
        assert "attached" not in message.body

    @pytest.mark.parametrize("days, stage", [(-3, "upcoming"), (1, "first"), (7, "second"), (15, "final")])
    def test_each_payment_reminder_carries_the_invoice_pdf(self, queue, days, stage):
        user = customer(language="fr")
        invoice = issued_invoice(user, status=InvoiceStatus.OVERDUE if days > 0 else InvoiceStatus.SENT)
        invoice.pdf.save("x.pdf", ContentFile(FAKE_PDF))

        queue(kind=EmailKind.PAYMENT_REMINDER, key=f"reminder:{invoice.pk}:{days:+d}", user=user,
              context={"days_from_due": days, "stage": stage}, invoice=invoice)

        [message] = mail.outbox
        assert message.attachments == [(f"{NUMBER}.pdf", FAKE_PDF, "application/pdf")]
        assert f"Vous trouverez le PDF en pièce jointe\u00a0: {NUMBER}.pdf." in message.body

    def test_other_kinds_carry_no_attachment(self, queue):
        user = customer()
        invoice = issued_invoice(user)
        invoice.pdf.save("x.pdf", ContentFile(FAKE_PDF))

        queue(kind=EmailKind.PAYMENT_FAILED, key=f"payment-failed:{invoice.pk}", user=user,
              context={"amount": Decimal("22.80"), "reason": "Card declined"}, invoice=invoice)

        assert mail.outbox[0].attachments == []


@pytest.mark.django_db
class TestSentOnce:
    def test_queueing_the_same_key_twice_and_delivering_again_sends_one_email(self, queue):
        user = customer()
        invoice = issued_invoice(user)
        key = f"reminder:{invoice.pk}:+7"
        context = {"days_from_due": 7, "stage": "second"}

        first = queue(kind=EmailKind.PAYMENT_REMINDER, key=key, user=user, context=context, invoice=invoice)
        second = queue(kind=EmailKind.PAYMENT_REMINDER, key=key, user=user, context=context, invoice=invoice)
        email_deliver(notification_id=first.pk)

        assert second.pk == first.pk
        assert len(mail.outbox) == 1
        assert EmailNotification.objects.get(key=key).attempts == 1

    def test_a_second_queue_schedules_nothing(self, django_capture_on_commit_callbacks):
        user = customer()
        context = {"plan_name": "Pro", "end_date": datetime.date(2026, 11, 1)}

        with django_capture_on_commit_callbacks() as callbacks:
            email_queue(kind=EmailKind.SUBSCRIPTION_EXPIRING, key="expiring:1", user=user, context=context)
            email_queue(kind=EmailKind.SUBSCRIPTION_EXPIRING, key="expiring:1", user=user, context=context)

        assert len(callbacks) == 1

    def test_nothing_is_sent_before_the_transaction_commits(self, django_capture_on_commit_callbacks):
        user = customer()

        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            email_queue(kind=EmailKind.SUBSCRIPTION_EXPIRING, key="expiring:1", user=user,
                        context={"plan_name": "Pro", "end_date": datetime.date(2026, 11, 1)})
            assert mail.outbox == []

        assert len(callbacks) == 1
        assert mail.outbox == []


@pytest.mark.django_db
class TestMailServerFailure:
    def queued(self) -> EmailNotification:
        """A recorded email whose delivery never ran: the test transaction does not commit."""
        user = customer()
        return email_queue(kind=EmailKind.INVOICE_ISSUED, key="invoice-issued:1", user=user, context={},
                           invoice=issued_invoice(user))

    def test_a_failure_is_recorded_and_raised_for_the_task_to_retry(self, settings):
        notification = self.queued()
        settings.EMAIL_BACKEND = "billing.tests.test_emails.DisconnectedBackend"

        with pytest.raises(EmailDeliveryFailed, match="Connection unexpectedly closed"):
            email_deliver(notification_id=notification.pk)

        notification.refresh_from_db()
        assert (notification.status, notification.attempts) == (EmailStatus.FAILED, 1)
        assert "SMTPServerDisconnected" in notification.last_error
        assert notification.sent_at is None
        assert mail.outbox == []

    def test_once_the_server_is_back_a_later_delivery_sends_it_once(self, settings):
        notification = self.queued()
        settings.EMAIL_BACKEND = "billing.tests.test_emails.DisconnectedBackend"
        with pytest.raises(EmailDeliveryFailed):
            email_deliver(notification_id=notification.pk)

        settings.EMAIL_BACKEND = LOCMEM
        email_deliver(notification_id=notification.pk)
        email_deliver(notification_id=notification.pk)

        notification.refresh_from_db()
        assert (notification.status, notification.attempts) == (EmailStatus.SENT, 2)
        assert len(mail.outbox) == 1

    def test_a_failure_after_commit_does_not_undo_the_callers_work(self, settings, queue):
        settings.EMAIL_BACKEND = "billing.tests.test_emails.DisconnectedBackend"
        user = customer()

        notification = queue(kind=EmailKind.INVOICE_ISSUED, key="invoice-issued:1", user=user, context={},
                             invoice=issued_invoice(user))

        notification.refresh_from_db()
        assert (notification.status, notification.attempts) == (EmailStatus.FAILED, 1)
        assert mail.outbox == []

    def test_the_task_retries_a_failed_delivery(self, settings):
        notification = self.queued()
        HangsUpOnceBackend.calls = 0
        settings.EMAIL_BACKEND = "billing.tests.test_emails.HangsUpOnceBackend"

        # throw=False lets an eager run follow its retry instead of raising it.
        result = email_deliver_task.apply(kwargs={"notification_id": notification.pk}, throw=False)

        assert result.successful()
        notification.refresh_from_db()
        assert (notification.status, notification.attempts) == (EmailStatus.SENT, 2)
        assert "SMTPServerDisconnected" in notification.last_error
        assert len(mail.outbox) == 1


class TestFrenchCatalogue:
    def test_every_message_is_translated_and_none_is_fuzzy(self):
        result = subprocess.run(
            ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(CATALOGUE / "django.po")],
            capture_output=True, text=True, check=True,
        )
        assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr

    def test_the_compiled_catalogue_is_up_to_date(self, tmp_path):
        compiled = tmp_path / "django.mo"
        subprocess.run(["msgfmt", "-o", str(compiled), str(CATALOGUE / "django.po")], check=True)

        def messages(path: Path) -> dict:
            """The translations, without the header entry (its dates change with every makemessages)."""
            with path.open("rb") as file:
                catalog = gettext.GNUTranslations(file)._catalog
            return {msgid: msgstr for msgid, msgstr in catalog.items() if msgid != ""}

        assert messages(CATALOGUE / "django.mo") == messages(compiled)

    def test_french_puts_a_no_break_space_before_two_part_punctuation(self):
        # « Total TTC : 22,80 EUR » must not break before its colon on a narrow screen or in a PDF column.
        with (CATALOGUE / "django.mo").open("rb") as file:
            catalog = gettext.GNUTranslations(file)._catalog
        translations = [text for msgid, text in catalog.items() if msgid != ""]  # "" is the header
        plain_space_before = re.compile(r"(?<![\u00a0\u202f])[:;?!](?=\s|$)")

        prose = [re.sub(r"<code>.*?</code>", "", text) for text in translations]  # an HTTP header is not prose

        offending = [text for text in prose if plain_space_before.search(text)]

        assert offending == []
