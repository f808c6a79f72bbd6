"""Customer account pages: login and password reset, billing profile, API keys, privacy (consents, export,
erasure). Every page needs a login, and a customer never reaches another customer's objects."""
import json
import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import ApiKey, AuditLog, ConsentPurpose, ConsentRecord, User, UserProfile
from accounts.services import api_key_authenticate
from accounts.tests.factories import ApiKeyFactory, UserFactory

PASSWORD = "correct-horse-battery"  # the factories' password


def profile_data(**overrides) -> dict:
    data = {
        "full_name": "Ada Lovelace", "company_name": "Analytical SAS", "billing_email": "", "phone": "",
        "address_line1": "10 rue de Rivoli", "address_line2": "", "postal_code": "75001", "city": "Paris",
        "country": "FR", "vat_number": "", "siren": "", "language": "en", "monthly_spend_cap": "",
    }
    return {**data, **overrides}


@pytest.mark.django_db
class TestLoginRequired:
    @pytest.mark.parametrize(
        "name", ["accounts:profile", "accounts:api_keys", "accounts:privacy", "accounts:erase"]
    )
    def test_anonymous_visitors_are_sent_to_the_login_page(self, client, name):
        url = reverse(name)

        response = client.get(url)

        assert response.status_code == 302
        assert response.url == f"{reverse('accounts:login')}?next={url}"


@pytest.mark.django_db
class TestLogin:
    def test_the_login_page_asks_for_an_email_and_a_password(self, client):
        html = client.get(reverse("accounts:login")).content.decode()

        assert 'type="email"' in html and 'name="username"' in html
        assert 'type="password"' in html
        assert reverse("accounts:password_reset") in html

    def test_a_customer_logs_in_with_email_and_password_and_lands_on_the_dashboard(self, client, customer):
        response = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": PASSWORD})

        assert response.status_code == 302
        assert response.url == reverse("billing:dashboard")

    def test_a_wrong_password_is_refused_with_a_message(self, client, customer):
        response = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": "nope"})

        assert response.status_code == 200
        assert "Please enter a correct email address and password" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_logout_is_a_post_and_ends_the_session(self, logged_in):
        response = logged_in.post(reverse("accounts:logout"))

        assert response.status_code == 200
        assert "You are logged out" in response.content.decode()
        assert "_auth_user_id" not in logged_in.session


@pytest.mark.django_db
class TestPasswordReset:
    def test_the_reset_link_is_emailed_and_sets_a_new_password(self, client, customer):
        response = client.post(reverse("accounts:password_reset"), {"email": "ada@example.com"})

        assert response.status_code == 302
        assert response.url == reverse("accounts:password_reset_done")
        [email] = mail.outbox
        assert email.to == ["ada@example.com"]
        assert email.subject == "Reset your TwinMCP password"
        link = re.search(r"http://testserver(/account/reset/\S+/)", email.body).group(1)

        form_page = client.get(link, follow=True)
        assert "Choose a new password" in form_page.content.decode()
        done = client.post(
            form_page.redirect_chain[-1][0],
            {"new_password1": "a-brand-new-passphrase", "new_password2": "a-brand-new-passphrase"},
        )

        assert done.status_code == 302
        assert done.url == reverse("accounts:password_reset_complete")
        customer.refresh_from_db()
        assert customer.check_password("a-brand-new-passphrase")

    def test_an_unknown_address_gets_the_same_answer_and_no_email(self, client, customer):
        response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})

        assert response.status_code == 302
        assert mail.outbox == []


@pytest.mark.django_db
class TestProfile:
    def test_the_form_shows_the_saved_profile_and_the_country_list(self, logged_in):
        html = logged_in.get(reverse("accounts:profile")).content.decode()

        assert 'value="10 rue de Rivoli"' in html  # decrypted for its owner
        assert '<option value="FR" selected>France</option>' in html
        assert '<option value="DE">Germany</option>' in html

    def test_the_spend_cap_names_its_currency(self, logged_in, settings):
        settings.INVOICE_CURRENCY = "CHF"

        html = logged_in.get(reverse("accounts:profile")).content.decode()

        assert '<label for="id_monthly_spend_cap">Monthly overage cap (CHF)</label>' in html

    def test_a_valid_profile_is_saved_with_the_vat_number_in_compact_form(self, logged_in, customer):
        response = logged_in.post(
            reverse("accounts:profile"),
            profile_data(country="DE", vat_number="de 136 695 976", company_name="Weber GmbH", monthly_spend_cap="50"),
        )

        assert response.status_code == 302
        profile = UserProfile.objects.get(user=customer)
        assert (profile.country, profile.vat_number, profile.company_name) == ("DE", "DE136695976", "Weber GmbH")
        assert str(profile.monthly_spend_cap) == "50.00"
        entry = AuditLog.objects.get(action="profile.update")
        assert "vat_number" in entry.changes["fields"] and "DE136695976" not in json.dumps(entry.changes)

    def test_a_number_without_its_country_prefix_is_accepted(self, logged_in, customer):
        logged_in.post(reverse("accounts:profile"), profile_data(country="FR", vat_number="40303265045"))

        assert UserProfile.objects.get(user=customer).vat_number == "FR40303265045"

    def test_a_first_save_creates_the_profile(self, client):
        user = UserFactory()
        client.force_login(user)

        response = client.post(reverse("accounts:profile"), profile_data(full_name="Grace Hopper"))

        assert response.status_code == 302
        assert UserProfile.objects.get(user=user).full_name == "Grace Hopper"

    @pytest.mark.parametrize(
        ("country", "vat_number", "message"),
        [
            ("FR", "FR00000000000", "This is not a valid VAT number for France: check the digits."),
            ("FR", "DE136695976", "This VAT number was not issued in France: it should start with FR."),
            ("GR", "EL094259217", "This is not a valid VAT number for Greece: check the digits."),
        ],
    )
    def test_an_invalid_vat_number_is_refused_next_to_the_field_and_nothing_is_saved(
        self, logged_in, customer, country, vat_number, message
    ):
        before = UserProfile.objects.get(user=customer)

        response = logged_in.post(
            reverse("accounts:profile"), profile_data(country=country, vat_number=vat_number, full_name="Changed")
        )

        assert response.status_code == 400
        html = response.content.decode()
        error = re.search(r'<ul class="errorlist" id="id_vat_number_error">(.*?)</ul>', html, re.S)
        assert error and message in error.group(1)
        assert 'aria-describedby="id_vat_number_helptext id_vat_number_error"' in html
        assert 'aria-invalid="true"' in html
        after = UserProfile.objects.get(user=customer)
        assert (after.full_name, after.vat_number, after.country) == (before.full_name, before.vat_number, "FR")

    def test_a_greek_number_carries_the_el_prefix(self, logged_in, customer):
        logged_in.post(reverse("accounts:profile"), profile_data(country="GR", vat_number="EL094259216"))

        assert UserProfile.objects.get(user=customer).vat_number == "EL094259216"

    def test_a_vat_number_needs_a_country(self, logged_in):
        response = logged_in.post(reverse("accounts:profile"), profile_data(country="", vat_number="FR40303265045"))

        assert response.status_code == 400
        assert "Choose the country that issued your VAT number." in response.content.decode()

    def test_outside_the_eu_a_known_format_is_checked(self, logged_in, customer):
        refused = logged_in.post(reverse("accounts:profile"), profile_data(country="CH", vat_number="CHE-123"))
        accepted = logged_in.post(
            reverse("accounts:profile"), profile_data(country="US", vat_number="12-3456789")
        )

        assert refused.status_code == 400
        assert "This is not a valid VAT number for Switzerland" in refused.content.decode()
        assert accepted.status_code == 302
        assert UserProfile.objects.get(user=customer).vat_number == "12-3456789"

    def test_an_invalid_siren_is_refused(self, logged_in):
        response = logged_in.post(reverse("accounts:profile"), profile_data(siren="123456789"))

        assert response.status_code == 400
        assert "This is not a valid SIREN" in response.content.decode()


@pytest.mark.django_db
class TestApiKeys:
    def test_a_new_key_is_shown_once_then_only_its_prefix(self, logged_in, customer):
        response = logged_in.post(reverse("accounts:api_keys"), {"name": "Laptop", "scopes": ["docs:read"]},
                                  follow=True)

        html = response.content.decode()
        token = re.search(r'<code class="secret-value mono" id="new-key-token">(tmcp_\w+_[\w-]+)</code>', html).group(1)
        key = ApiKey.objects.get(user=customer)
        assert token.startswith(f"tmcp_{key.prefix}_")
        assert api_key_authenticate(token) == key
        assert key.scopes == ["docs:read"]

        again = logged_in.get(reverse("accounts:api_keys")).content.decode()
        assert token not in again
        assert f"tmcp_{key.prefix}_…" in again
        assert "Laptop" in again

    def test_the_form_offers_every_customer_scope_with_docs_read_ticked(self, logged_in):
        html = logged_in.get(reverse("accounts:api_keys")).content.decode()

        boxes = dict(re.findall(r'<input type="checkbox" name="scopes" value="([\w:]+)"([^>]*)>', html))
        assert list(boxes) == ["docs:read", "billing:read", "billing:write", "account:admin"]
        assert [scope for scope, attributes in boxes.items() if "checked" in attributes] == ["docs:read"]
        assert "Read your invoices, payments, subscription" in html  # each scope says what it opens
        assert "usage:write" not in html

    def test_the_customer_picks_the_scopes_and_the_list_shows_them(self, logged_in, customer):
        response = logged_in.post(reverse("accounts:api_keys"),
                                  {"name": "Dashboard", "scopes": ["billing:read", "account:admin"]}, follow=True)

        assert response.status_code == 200
        assert ApiKey.objects.get(user=customer).scopes == ["account:admin", "billing:read"]
        row = re.search(r"<tr>\s*<td>Dashboard</td>.*?</tr>", response.content.decode(), re.S).group(0)
        assert '<code class="mono">account:admin</code>, <code class="mono">billing:read</code>' in row

    @pytest.mark.parametrize(("scopes", "message"), [
        ([], "Tick at least one scope."),
        (["docs:read", "usage:write"], "Select a valid choice. usage:write is not one of the available choices."),
    ])
    def test_a_key_needs_a_customer_scope_and_nothing_is_written(self, logged_in, customer, scopes, message):
        response = logged_in.post(reverse("accounts:api_keys"), {"name": "Server", "scopes": scopes})

        assert response.status_code == 400
        assert message in response.content.decode()
        assert not ApiKey.objects.filter(user=customer).exists()

    def test_a_key_needs_a_name(self, logged_in, customer):
        response = logged_in.post(reverse("accounts:api_keys"), {"name": "  "})

        assert response.status_code == 400
        assert "This field is required." in response.content.decode()
        assert not ApiKey.objects.filter(user=customer).exists()

    def test_the_list_shows_last_use_and_status(self, logged_in, customer):
        ApiKeyFactory(user=customer, name="Used", prefix="used0001")
        ApiKeyFactory(user=customer, name="Old", prefix="old00001", revoked_at="2026-01-02T10:00:00Z")

        html = logged_in.get(reverse("accounts:api_keys")).content.decode()

        assert "tmcp_used0001_…" in html and "tmcp_old00001_…" in html
        assert "Never" in html
        assert "Revoked" in html

    def test_revoking_asks_first_then_refuses_the_key(self, logged_in, customer):
        key = ApiKeyFactory(user=customer, name="CI")
        url = reverse("accounts:api_key_revoke", args=[key.pk])

        confirm = logged_in.get(url)
        key.refresh_from_db()
        assert confirm.status_code == 200 and key.revoked_at is None
        assert "Revoke the key “CI”?" in confirm.content.decode()

        response = logged_in.post(url)

        assert response.status_code == 302
        key.refresh_from_db()
        assert key.revoked_at is not None

    def test_another_customers_key_answers_404(self, logged_in):
        other = ApiKeyFactory()

        assert logged_in.get(reverse("accounts:api_key_revoke", args=[other.pk])).status_code == 404
        assert logged_in.post(reverse("accounts:api_key_revoke", args=[other.pk])).status_code == 404
        other.refresh_from_db()
        assert other.revoked_at is None

    def test_nobody_sees_another_customers_keys(self, logged_in):
        ApiKeyFactory(name="Somebody else's", prefix="other123")

        html = logged_in.get(reverse("accounts:api_keys")).content.decode()

        assert "other123" not in html and "Somebody else" not in html


@pytest.mark.django_db
class TestPrivacy:
    def test_a_consent_is_given_then_withdrawn_each_time_recorded(self, logged_in, customer):
        url = reverse("accounts:privacy")

        logged_in.post(url, {"purpose": ConsentPurpose.MARKETING_EMAIL, "granted": "1"}, REMOTE_ADDR="203.0.113.9")
        logged_in.post(url, {"purpose": ConsentPurpose.MARKETING_EMAIL, "granted": "0"})

        records = list(ConsentRecord.objects.filter(user=customer).order_by("created_at", "id"))
        assert [record.granted for record in records] == [True, False]
        assert records[0].ip_address == "203.0.113.9"
        html = logged_in.get(url).content.decode()
        assert "Withdrawn" in html

    def test_the_terms_cannot_be_withdrawn_here(self, logged_in, customer):
        response = logged_in.post(reverse("accounts:privacy"), {"purpose": ConsentPurpose.TERMS, "granted": "0"})

        assert response.status_code == 400
        assert "The terms of service cannot be withdrawn: to stop using TwinMCP, erase your account." in (
            response.content.decode()
        )
        assert not ConsentRecord.objects.filter(user=customer).exists()

    def test_terms_not_given_can_be_accepted(self, logged_in, customer):
        url = reverse("accounts:privacy")
        html = logged_in.get(url).content.decode()
        terms_row = re.search(r"<th scope=\"row\">Terms of service</th>.*?</tr>", html, re.S).group()
        assert "Not given" in terms_row and 'name="granted" value="1"' in terms_row and "Accept" in terms_row

        logged_in.post(
            url, {"purpose": ConsentPurpose.TERMS, "granted": "1"}, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Firefox"
        )

        record = ConsentRecord.objects.get(user=customer, purpose=ConsentPurpose.TERMS)
        assert record.granted and record.ip_address == "203.0.113.9" and record.user_agent == "Firefox"
        html = logged_in.get(url).content.decode()
        terms_row = re.search(r"<th scope=\"row\">Terms of service</th>.*?</tr>", html, re.S).group()
        assert "Accepted" in terms_row and "<button" not in terms_row  # accepted for good

    def test_each_decision_is_audited_with_the_address_and_browser(self, logged_in, customer):
        url = reverse("accounts:privacy")

        for granted in ("1", "0"):
            logged_in.post(
                url, {"purpose": ConsentPurpose.USAGE_ANALYTICS, "granted": granted},
                REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="Safari",
            )

        entries = list(AuditLog.objects.filter(object_type="accounts.ConsentRecord").order_by("id"))
        assert [entry.action for entry in entries] == ["consent.give", "consent.withdraw"]
        assert {(entry.actor_id, entry.ip_address, entry.user_agent) for entry in entries} == {
            (customer.pk, "198.51.100.4", "Safari")
        }
        assert entries[1].changes == {"purpose": "USAGE_ANALYTICS", "granted": False}

    def test_the_export_is_a_json_download_of_the_customers_data(self, logged_in, customer):
        ApiKeyFactory(user=customer, name="Laptop")

        response = logged_in.post(reverse("accounts:privacy_export"))

        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response["Content-Disposition"].startswith('attachment; filename="twinmcp-account-')
        data = json.loads(response.content)
        assert data["user"]["email"] == "ada@example.com"
        assert data["profile"]["address_line1"] == "10 rue de Rivoli"
        assert [key["name"] for key in data["api_keys"]] == ["Laptop"]
        assert "key_hash" not in json.dumps(data)

    def test_the_export_is_not_a_get(self, logged_in):
        assert logged_in.get(reverse("accounts:privacy_export")).status_code == 405


@pytest.mark.django_db
class TestErase:
    def test_the_page_explains_before_anything_happens(self, logged_in, customer):
        response = logged_in.get(reverse("accounts:erase"))

        assert response.status_code == 200
        assert "This cannot be undone" in response.content.decode()
        customer.refresh_from_db()
        assert customer.is_active

    def test_a_wrong_password_erases_nothing(self, logged_in, customer):
        response = logged_in.post(reverse("accounts:erase"), {"password": "wrong", "confirm": "on"})

        assert response.status_code == 400
        assert "This is not your password." in response.content.decode()
        customer.refresh_from_db()
        assert customer.is_active and customer.email == "ada@example.com"

    def test_erasure_removes_personal_data_revokes_keys_and_logs_out(self, logged_in, customer):
        key = ApiKeyFactory(user=customer)

        response = logged_in.post(reverse("accounts:erase"), {"password": PASSWORD, "confirm": "on"})

        assert response.status_code == 200
        assert "Your account was erased" in response.content.decode()
        user = User.objects.get(pk=customer.pk)
        assert not user.is_active and not user.has_usable_password()
        assert user.email == f"erased-{user.pk}@erased.invalid"
        profile = UserProfile.objects.get(user=user)
        assert (profile.full_name, profile.address_line1, profile.phone, profile.vat_number) == ("", "", "", "")
        key.refresh_from_db()
        assert key.revoked_at is not None
        assert "_auth_user_id" not in logged_in.session
        assert logged_in.get(reverse("billing:dashboard")).status_code == 302

    def test_another_session_of_the_erased_customer_ends_too(self, client, customer):
        other_browser = type(client)()
        other_browser.force_login(customer)
        client.force_login(customer)

        client.post(reverse("accounts:erase"), {"password": PASSWORD, "confirm": "on"})

        assert other_browser.get(reverse("billing:dashboard")).status_code == 302
