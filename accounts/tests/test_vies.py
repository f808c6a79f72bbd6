"""EU VAT numbers checked with VIES when the billing profile is saved, against a fake VIES on loopback
(accounts/tests/fake_vies.py): valid with a consultation reference kept as proof, rejected with an error and
nothing saved, accepted on its format while VIES cannot answer and checked again by the hourly task; a number
rejected later is invoiced with VAT."""
import datetime
import re
import time
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from accounts.models import AuditLog, UserProfile, ViesStatus
from accounts.services import account_erase, user_data_export
from accounts.tasks import vat_numbers_recheck_task
from accounts.tests.admin_helpers import admin_url, editable_field_names, unchanged_form_data
from accounts.tests.factories import UserProfileFactory
from accounts.tests.fake_vies import FakeVies
from accounts.vies import vat_number_check
from billing.selectors import invoice_upcoming
from billing.services import invoice_generate, subscription_create
from billing.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 7, 9, 30, tzinfo=datetime.UTC)
GERMAN = "DE136695976"
OTHER_GERMAN = "DE129273398"


@pytest.fixture
def vies(settings):
    """The fake VIES, which the settings point to; it gives up on an answer after 0.5 s."""
    with FakeVies(slow_seconds=2) as fake:
        settings.VIES_URL = fake.url
        settings.VIES_TIMEOUT_SECONDS = 0.5
        yield fake


@pytest.fixture
def pinned():
    with time_machine.travel(NOW, tick=False):
        yield


def profile_data(**overrides) -> dict:
    data = {
        "full_name": "Ada Lovelace", "company_name": "Weber GmbH", "billing_email": "", "phone": "",
        "address_line1": "Unter den Linden 1", "address_line2": "", "postal_code": "10117", "city": "Berlin",
        "country": "DE", "vat_number": GERMAN, "siren": "", "language": "en", "einvoice_format": "facturx",
        "monthly_spend_cap": "",
    }
    return {**data, **overrides}


def vies_checks(profile: UserProfile) -> list[dict]:
    return [
        entry.changes for entry in AuditLog.objects.filter(
            action="profile.vies_check", object_type="accounts.UserProfile", object_id=str(profile.pk)
        ).order_by("id")
    ]


@pytest.mark.usefixtures("pinned")
class TestProfileSave:
    def test_a_valid_number_is_saved_with_the_consultation_reference_shown_on_the_page(
        self, logged_in, customer, vies
    ):
        vies.answers[GERMAN] = FakeVies.VALID

        response = logged_in.post(reverse("accounts:profile"), profile_data(vat_number="de 136 695 976"))

        assert response.status_code == 302
        profile = UserProfile.objects.get(user=customer)
        assert (profile.vat_number, profile.vies_status) == (GERMAN, ViesStatus.VALID)
        assert (profile.vies_consultation_reference, profile.vies_checked_at) == ("WAPIAAAAZ0000001", NOW)
        assert vies.requesters == ["FR40303265045"]  # the seller asks, so that VIES gives a reference
        assert vies_checks(profile) == [
            {"status": "VALID", "reference": "WAPIAAAAZ0000001", "fault": "", "checked_at": NOW.isoformat()}
        ]
        html = logged_in.get(reverse("accounts:profile")).content.decode()
        assert "Checked with VIES on 7 Dec 2026, reference WAPIAAAAZ0000001." in html

    def test_a_number_vies_rejects_is_refused_next_to_the_field_and_nothing_is_saved(self, logged_in, customer, vies):
        before = UserProfile.objects.get(user=customer)

        response = logged_in.post(
            reverse("accounts:profile"), profile_data(vat_number=OTHER_GERMAN, full_name="Changed")
        )

        assert response.status_code == 400
        error = re.search(
            r'<ul class="errorlist" id="id_vat_number_error">(.*?)</ul>', response.content.decode(), re.S
        )
        assert error and "VIES does not know this VAT number (DE129273398)" in error.group(1)
        after = UserProfile.objects.get(user=customer)
        assert (after.full_name, after.country, after.vat_number) == (before.full_name, "FR", "")
        assert after.vies_status == ViesStatus.UNCHECKED
        assert not AuditLog.objects.filter(action__startswith="profile.").exists()

    def test_a_number_vies_cannot_check_now_is_saved_on_its_format_and_the_customer_told(
        self, logged_in, customer, vies
    ):
        vies.answers[GERMAN] = "MS_UNAVAILABLE"

        response = logged_in.post(reverse("accounts:profile"), profile_data(), follow=True)

        html = response.content.decode()
        assert "Your billing profile was saved." in html
        assert "VIES, the EU&#x27;s VAT number service, could not be reached" in html
        assert "VIES could not be reached on 7 Dec 2026: the number was accepted on its format" in html
        profile = UserProfile.objects.get(user=customer)
        assert (profile.vat_number, profile.vies_status) == (GERMAN, ViesStatus.UNAVAILABLE)
        assert profile.vies_consultation_reference == ""
        assert vies_checks(profile) == [
            {"status": "UNAVAILABLE", "reference": "", "fault": "MS_UNAVAILABLE", "checked_at": NOW.isoformat()}
        ]

    def test_a_vies_too_slow_to_answer_counts_as_unavailable_and_the_page_does_not_wait_for_it(
        self, logged_in, customer, vies
    ):
        vies.answers[GERMAN] = FakeVies.SLOW
        started = time.monotonic()

        response = logged_in.post(reverse("accounts:profile"), profile_data())

        assert response.status_code == 302 and time.monotonic() - started < 1.5
        assert UserProfile.objects.get(user=customer).vies_status == ViesStatus.UNAVAILABLE

    def test_a_vies_that_refuses_connections_counts_as_unavailable(self, logged_in, customer):
        # The test settings' VIES_URL: a loopback port that refuses at once.
        response = logged_in.post(reverse("accounts:profile"), profile_data())

        assert response.status_code == 302
        assert UserProfile.objects.get(user=customer).vies_status == ViesStatus.UNAVAILABLE

    def test_a_second_save_takes_vies_answer_from_the_cache(self, logged_in, customer, vies):
        vies.answers[GERMAN] = FakeVies.VALID
        logged_in.post(reverse("accounts:profile"), profile_data())

        with time_machine.travel(NOW + datetime.timedelta(hours=2), tick=False):
            logged_in.post(reverse("accounts:profile"), profile_data(city="Potsdam"))

        assert vies.requests[GERMAN] == 1
        profile = UserProfile.objects.get(user=customer)
        assert (profile.city, profile.vies_status, profile.vies_checked_at) == ("Potsdam", ViesStatus.VALID, NOW)
        assert profile.vies_consultation_reference == "WAPIAAAAZ0000001"

    def test_vies_being_down_is_never_cached(self, logged_in, vies):
        vies.answers[GERMAN] = "GLOBAL_MAX_CONCURRENT_REQ"

        logged_in.post(reverse("accounts:profile"), profile_data())
        logged_in.post(reverse("accounts:profile"), profile_data())

        assert vies.requests[GERMAN] == 2

    def test_vies_being_down_keeps_the_earlier_proof_of_the_same_number(self, logged_in, customer, vies):
        vies.answers[GERMAN] = FakeVies.VALID
        logged_in.post(reverse("accounts:profile"), profile_data())
        vies.answers[GERMAN] = "MS_UNAVAILABLE"

        with time_machine.travel(NOW + datetime.timedelta(days=2), tick=False):
            logged_in.post(reverse("accounts:profile"), profile_data(city="Potsdam"))

        profile = UserProfile.objects.get(user=customer)
        assert (profile.city, profile.vies_status) == ("Potsdam", ViesStatus.VALID)
        assert (profile.vies_consultation_reference, profile.vies_checked_at) == ("WAPIAAAAZ0000001", NOW)

    def test_french_and_greek_numbers_are_checked_too_greek_ones_as_el(self, logged_in, customer, vies):
        vies.answers["FR40303265045"] = vies.answers["EL094259216"] = FakeVies.VALID

        logged_in.post(reverse("accounts:profile"), profile_data(country="FR", vat_number="FR40303265045"))
        assert UserProfile.objects.get(user=customer).vies_status == ViesStatus.VALID
        logged_in.post(reverse("accounts:profile"), profile_data(country="GR", vat_number="EL094259216"))

        assert dict(vies.requests) == {"FR40303265045": 1, "EL094259216": 1}
        assert UserProfile.objects.get(user=customer).vies_status == ViesStatus.VALID

    def test_a_number_from_outside_the_eu_is_not_sent_and_drops_the_earlier_check(self, logged_in, customer, vies):
        vies.answers[GERMAN] = FakeVies.VALID
        logged_in.post(reverse("accounts:profile"), profile_data())

        logged_in.post(reverse("accounts:profile"), profile_data(country="US", vat_number="12-3456789"))

        assert dict(vies.requests) == {GERMAN: 1}
        profile = UserProfile.objects.get(user=customer)
        assert (profile.vat_number, profile.vies_status) == ("12-3456789", ViesStatus.UNCHECKED)
        assert (profile.vies_checked_at, profile.vies_consultation_reference) == (None, "")
        assert "Checked with VIES" not in logged_in.get(reverse("accounts:profile")).content.decode()

    def test_switching_the_language_asks_vies_nothing(self, logged_in, customer, vies):
        UserProfile.objects.filter(user=customer).update(country="DE", vat_number="")

        logged_in.post(reverse("accounts:language"), {"language": "fr"})

        assert UserProfile.objects.get(user=customer).language == "fr"
        assert not vies.requests


def german_business(**profile) -> UserProfile:
    return UserProfileFactory(**{"country": "DE", "company_name": "Weber GmbH", "vat_number": GERMAN, **profile})


class TestRecheck:
    def test_the_recheck_runs_every_hour(self):
        task = PeriodicTask.objects.select_related("crontab").get(name="VAT numbers re-checked with VIES")

        assert (task.task, task.enabled) == (vat_numbers_recheck_task.name, True)
        assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_month) == ("50", "*", "*")

    def test_a_number_vies_could_not_check_becomes_valid_once_vies_answers(
        self, vies, django_capture_on_commit_callbacks
    ):
        profile = german_business(vies_status=ViesStatus.UNAVAILABLE, vies_checked_at=NOW)
        vies.answers[GERMAN] = FakeVies.VALID

        with (
            time_machine.travel(NOW + datetime.timedelta(hours=1), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert vat_numbers_recheck_task.delay().get() == 1

        profile.refresh_from_db()
        assert (profile.vies_status, profile.vies_consultation_reference) == (ViesStatus.VALID, "WAPIAAAAZ0000001")
        assert profile.vies_checked_at == NOW + datetime.timedelta(hours=1)
        assert not mail.outbox

    def test_a_number_vies_rejects_later_turns_invalid_and_its_owner_is_told(
        self, vies, settings, django_capture_on_commit_callbacks
    ):
        profile = german_business(
            vies_status=ViesStatus.UNAVAILABLE, vies_checked_at=NOW, billing_email="finance@weber.example"
        )
        vies.answers[GERMAN] = FakeVies.INVALID

        with (
            time_machine.travel(NOW + datetime.timedelta(hours=1), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert vat_numbers_recheck_task.delay().get() == 1

        profile.refresh_from_db()
        assert profile.vies_status == ViesStatus.INVALID
        assert vies_checks(profile) == [
            {"status": "INVALID", "reference": "", "fault": "", "checked_at": "2026-12-07T10:30:00+00:00"}
        ]
        [email] = mail.outbox
        assert email.to == ["finance@weber.example"]
        assert email.subject == "VIES rejected your VAT number DE136695976"
        assert "On 7 December 2026, VIES" in email.body and "your invoices include VAT" in email.body
        assert settings.SITE_URL + reverse("accounts:profile") in email.body

    def test_while_vies_is_still_down_nothing_changes(self, django_capture_on_commit_callbacks):
        profile = german_business(vies_status=ViesStatus.UNAVAILABLE, vies_checked_at=NOW)

        with (
            time_machine.travel(NOW + datetime.timedelta(hours=1), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert vat_numbers_recheck_task.delay().get() == 0

        profile.refresh_from_db()
        assert (profile.vies_status, profile.vies_checked_at) == (ViesStatus.UNAVAILABLE, NOW)
        assert not vies_checks(profile) and not mail.outbox

    def test_once_vies_itself_is_unreachable_the_other_numbers_wait_for_the_next_run(self, vies):
        first = german_business(vies_status=ViesStatus.UNAVAILABLE, vies_checked_at=NOW)
        second = german_business(vat_number=OTHER_GERMAN)
        vies.answers[GERMAN] = FakeVies.SLOW

        with time_machine.travel(NOW + datetime.timedelta(hours=1), tick=False):
            assert vat_numbers_recheck_task.delay().get() == 0

        assert dict(vies.requests) == {GERMAN: 1}
        assert [UserProfile.objects.get(pk=p.pk).vies_status for p in (first, second)] == [
            ViesStatus.UNAVAILABLE, ViesStatus.UNCHECKED
        ]

    def test_numbers_never_checked_and_stale_proofs_are_asked_again_fresh_ones_are_not(self, vies):
        never = german_business()
        stale = german_business(
            vat_number=OTHER_GERMAN, vies_status=ViesStatus.VALID, vies_checked_at=NOW - datetime.timedelta(days=31),
            vies_consultation_reference="WAPIOLD",
        )
        fresh = german_business(
            vat_number="DE811569869", vies_status=ViesStatus.VALID, vies_checked_at=NOW - datetime.timedelta(days=3)
        )
        outside = UserProfileFactory(country="US", vat_number="12-3456789")
        vies.answers[GERMAN] = vies.answers[OTHER_GERMAN] = FakeVies.VALID

        with time_machine.travel(NOW, tick=False):
            assert vat_numbers_recheck_task.delay().get() == 2

        assert dict(vies.requests) == {GERMAN: 1, OTHER_GERMAN: 1}
        assert [UserProfile.objects.get(pk=p.pk).vies_status for p in (never, stale, fresh, outside)] == [
            ViesStatus.VALID, ViesStatus.VALID, ViesStatus.VALID, ViesStatus.UNCHECKED
        ]
        stale.refresh_from_db()
        assert (stale.vies_checked_at, stale.vies_consultation_reference) == (NOW, "WAPIAAAAZ0000002")


class TestInvoices:
    @pytest.fixture
    def plan(self):
        return PlanFactory(code="pro", name="Pro", price=Decimal("100.00"), included_tokens=5_000_000,
                           overage_price_per_million=Decimal("2.00"))

    def october_invoice(self, profile: UserProfile, plan):
        subscription = subscription_create(
            user=profile.user, plan=plan, now=datetime.datetime(2026, 10, 1, tzinfo=datetime.UTC)
        )
        return invoice_generate(subscription=subscription, period="2026-10")

    def test_a_business_whose_number_vies_rejected_later_is_charged_vat(self, vies, plan):
        valid = german_business(vies_status=ViesStatus.UNAVAILABLE, vies_checked_at=NOW)
        rejected = german_business(vat_number=OTHER_GERMAN, vies_status=ViesStatus.UNAVAILABLE, vies_checked_at=NOW)
        vies.answers[GERMAN] = FakeVies.VALID
        with time_machine.travel(NOW + datetime.timedelta(hours=1), tick=False):
            vat_numbers_recheck_task.delay()

        reverse_charged, taxed = self.october_invoice(valid, plan), self.october_invoice(rejected, plan)

        assert (reverse_charged.reverse_charge, reverse_charged.tax_amount, reverse_charged.total) == (
            True, Decimal("0.00"), Decimal("100.00")
        )
        # the proof of the number's validity kept with the invoice that reverse-charges it
        valid.refresh_from_db()
        assert reverse_charged.billing_details["buyer"]["vies_consultation_reference"] == "WAPIAAAAZ0000001"
        assert valid.vies_consultation_reference == "WAPIAAAAZ0000001"
        assert (taxed.reverse_charge, taxed.tax_rate, taxed.tax_amount, taxed.total) == (
            False, Decimal("0.20"), Decimal("20.00"), Decimal("120.00")
        )
        assert taxed.tax_mention == ""
        assert taxed.billing_details["buyer"]["vies_status"] == "INVALID"
        assert taxed.billing_details["buyer"]["vat_number"] == OTHER_GERMAN  # printed as the customer gave it

    def test_the_estimate_of_the_current_period_charges_vat_too(self, plan):
        rejected = german_business(vies_status=ViesStatus.INVALID, vies_checked_at=NOW)
        subscription = subscription_create(
            user=rejected.user, plan=plan, now=datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
        )

        estimate = invoice_upcoming(subscription=subscription, now=NOW)

        assert (estimate.reverse_charge, estimate.tax_rate) == (False, Decimal("0.20"))
        assert estimate.tax_amount == estimate.subtotal * Decimal("0.20") > 0


class TestClient:
    def test_a_fault_about_the_number_itself_is_a_rejection_and_is_cached(self, vies):
        vies.answers[GERMAN] = "INVALID_INPUT"

        first = vat_number_check(vat_number=GERMAN, now=NOW)
        second = vat_number_check(vat_number=GERMAN, now=NOW + datetime.timedelta(minutes=5))

        assert first == second
        assert (first.status, first.reference) == (ViesStatus.INVALID, "")
        assert vies.requests[GERMAN] == 1

    def test_without_a_seller_vat_number_vies_is_asked_without_a_requester_and_gives_no_reference(
        self, vies, settings
    ):
        settings.SELLER = {**settings.SELLER, "vat_number": ""}
        vies.answers[GERMAN] = FakeVies.VALID

        answer = vat_number_check(vat_number=GERMAN, now=NOW)

        assert (answer.status, answer.reference) == (ViesStatus.VALID, "")
        assert vies.requesters == [""]


class TestAdmin:
    def test_the_customer_page_shows_the_check_read_only(self, admin_client):
        profile = german_business(
            vies_status=ViesStatus.VALID, vies_checked_at=NOW, vies_consultation_reference="WAPIAAAAZ0000042"
        )

        response = admin_client.get(admin_url(profile.user, "change"))

        assert "WAPIAAAAZ0000042" in response.content.decode()
        assert not {"vies_status", "vies_checked_at", "vies_consultation_reference"} & editable_field_names(response)

    def test_a_number_staff_change_is_unchecked_until_the_recheck_asks_vies(self, admin_client, vies):
        profile = german_business(
            vies_status=ViesStatus.VALID, vies_checked_at=NOW, vies_consultation_reference="WAPIAAAAZ0000042"
        )
        page = admin_client.get(admin_url(profile.user, "change"))

        response = admin_client.post(
            admin_url(profile.user, "change"), unchanged_form_data(page) | {"profile-0-vat_number": OTHER_GERMAN}
        )

        assert response.status_code == 302
        profile.refresh_from_db()
        assert (profile.vat_number, profile.vies_status, profile.vies_consultation_reference) == (
            OTHER_GERMAN, ViesStatus.UNCHECKED, ""
        )
        vies.answers[OTHER_GERMAN] = FakeVies.VALID
        vat_numbers_recheck_task.delay()
        profile.refresh_from_db()
        assert (profile.vies_status, profile.vies_consultation_reference) == (ViesStatus.VALID, "WAPIAAAAZ0000001")

    def test_an_unchanged_number_keeps_its_proof(self, admin_client):
        profile = german_business(
            vies_status=ViesStatus.VALID, vies_checked_at=NOW, vies_consultation_reference="WAPIAAAAZ0000042"
        )
        page = admin_client.get(admin_url(profile, "change"))

        admin_client.post(admin_url(profile, "change"), unchanged_form_data(page) | {"city": "Potsdam"})

        profile.refresh_from_db()
        assert (profile.city, profile.vies_status, profile.vies_consultation_reference) == (
            "Potsdam", ViesStatus.VALID, "WAPIAAAAZ0000042"
        )


class TestPersonalData:
    def test_the_export_holds_the_check_and_erasure_forgets_it_with_the_number(self):
        profile = german_business(
            vies_status=ViesStatus.VALID, vies_checked_at=NOW, vies_consultation_reference="WAPIAAAAZ0000042"
        )

        exported = user_data_export(user=profile.user, now=NOW)["profile"]
        account_erase(user=profile.user, now=NOW)

        assert (exported["vies_status"], exported["vies_checked_at"], exported["vies_consultation_reference"]) == (
            "VALID", NOW.isoformat(), "WAPIAAAAZ0000042"
        )
        profile.refresh_from_db()
        assert (profile.vat_number, profile.vies_status, profile.vies_checked_at) == ("", ViesStatus.UNCHECKED, None)
        assert profile.vies_consultation_reference == ""
