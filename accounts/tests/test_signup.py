"""Self-service sign-up: /account/signup/, the confirmation email and its link, throttling, no enumeration."""
import datetime
import re

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import AuditLog, ConsentPurpose, ConsentRecord, User
from accounts.services import signup_request
from accounts.tests.factories import UserFactory

EMAIL = "grace@example.com"
PASSWORD = "a-long-unusual-passphrase-42"
NOW = datetime.datetime(2026, 11, 16, 9, 30, tzinfo=datetime.UTC)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
CONFIRMED = []  # (user, now) of each call of the handler below


def record_confirmation(*, user, now):
    """A handler of SIGNUP_CONFIRMED_HANDLERS, as billing's is: called with the user and the moment."""
    CONFIRMED.append((user.pk, now))


class CountingHasher(MD5PasswordHasher):
    """Counts the passwords hashed: an answer that hashes none would come back faster, and tell."""

    algorithm = "counting_md5"
    hashed = 0

    def encode(self, password, salt):
        CountingHasher.hashed += 1
        return super().encode(password, salt)


@pytest.fixture(autouse=True)
def handlers(settings):
    CONFIRMED.clear()
    settings.SIGNUP_CONFIRMED_HANDLERS = ["accounts.tests.test_signup.record_confirmation"]
    settings.SITE_URL = "https://billing.example.com"


def sign_up(client, email=EMAIL, password=PASSWORD, ip="198.51.100.7", **extra):
    data = {"email": email, "password": password, "terms": "on", **extra}
    return client.post(reverse("accounts:signup"), data, REMOTE_ADDR=ip, HTTP_USER_AGENT=BROWSER)


def sign_up_committed(client, django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        return sign_up(client, **kwargs)


def without_csrf_token(response) -> str:
    """The page as its reader sees it: the CSRF token is masked afresh on every answer."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def confirm_path(message) -> str:
    [url] = re.findall(r"https://billing\.example\.com(/account/signup/confirm/\S+/)", message.body)
    return url


@pytest.mark.django_db
class TestSignupPage:
    def test_the_page_asks_for_an_email_a_password_and_the_terms_and_links_to_the_login(self, client):
        page = client.get(reverse("accounts:signup")).content.decode()

        assert 'name="email"' in page and 'type="password"' in page and 'name="terms"' in page
        assert f'href="{reverse("accounts:login")}"' in page

    def test_the_login_page_links_to_the_sign_up(self, client):
        page = client.get(reverse("accounts:login")).content.decode()

        assert f'href="{reverse("accounts:signup")}">Create an account</a>' in page

    def test_a_logged_in_customer_is_sent_to_their_billing(self, client):
        client.force_login(UserFactory())

        response = client.get(reverse("accounts:signup"))

        assert response.status_code == 302
        assert response["Location"] == settings.LOGIN_REDIRECT_URL


@pytest.mark.django_db
class TestSignup:
    def test_a_new_address_gets_an_account_that_cannot_log_in_until_confirmed(
        self, client, django_capture_on_commit_callbacks
    ):
        with time_machine.travel(NOW, tick=False):
            response = sign_up_committed(client, django_capture_on_commit_callbacks, marketing_email="on")

        assert response.status_code == 302
        assert response["Location"] == reverse("accounts:signup_sent")
        user = User.objects.get(email=EMAIL)
        assert not user.is_active
        assert user.check_password(PASSWORD)
        login = client.post(reverse("accounts:login"), {"username": EMAIL, "password": PASSWORD})
        assert login.status_code == 200 and "_auth_user_id" not in client.session

    def test_the_consents_given_are_recorded_with_the_address_and_browser(
        self, client, django_capture_on_commit_callbacks
    ):
        with time_machine.travel(NOW, tick=False):
            sign_up_committed(client, django_capture_on_commit_callbacks, marketing_email="on")

        records = ConsentRecord.objects.filter(user__email=EMAIL).order_by("purpose")
        assert [(r.purpose, r.granted, r.ip_address, r.user_agent, r.created_at) for r in records] == [
            (ConsentPurpose.MARKETING_EMAIL, True, "198.51.100.7", BROWSER, NOW),
            (ConsentPurpose.TERMS, True, "198.51.100.7", BROWSER, NOW),
        ]  # usage analytics was left unticked: never given, as the privacy page shows it

    def test_the_sign_up_is_audited(self, client, django_capture_on_commit_callbacks):
        sign_up_committed(client, django_capture_on_commit_callbacks)

        user = User.objects.get(email=EMAIL)
        entry = AuditLog.objects.get(action="account.signup")
        assert (entry.object_type, entry.object_id, entry.ip_address) == ("accounts.User", str(user.pk), "198.51.100.7")
        assert AuditLog.objects.filter(action="consent.give").count() == 1

    def test_a_confirmation_email_with_a_link_is_sent(self, client, django_capture_on_commit_callbacks):
        sign_up_committed(client, django_capture_on_commit_callbacks)

        [message] = mail.outbox
        assert message.to == [EMAIL]
        assert message.subject == "Confirm your TwinMCP account"
        assert confirm_path(message).startswith("/account/signup/confirm/")
        assert "The link works once, for 3 days." in message.body

    def test_the_page_s_language_becomes_the_profile_s(self, client, django_capture_on_commit_callbacks):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"

        sign_up_committed(client, django_capture_on_commit_callbacks)

        # Its emails, pages and invoices are in French from now on.
        assert User.objects.get(email=EMAIL).profile.language == "fr"

    @pytest.mark.parametrize(
        ("data", "field", "error"),
        [
            ({"email": "not-an-email"}, "email", "Enter a valid email address."),
            ({"password": "short"}, "password", "This password is too short."),
            ({"password": "password123"}, "password", "This password is too common."),
            ({"password": "grace@example.com1"}, "password", "The password is too similar to the email address."),
            ({"terms": ""}, "terms", "Accept the terms of service to create an account."),
        ],
    )
    def test_an_invalid_form_names_the_field_and_writes_nothing(
        self, client, django_capture_on_commit_callbacks, data, field, error
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("accounts:signup"), {"email": EMAIL, "password": PASSWORD, "terms": "on", **data}
            )

        assert response.status_code == 400
        assert error in " ".join(response.context["form"].errors[field])
        assert error.replace("'", "&#x27;") in response.content.decode()
        assert not User.objects.exists()
        assert not ConsentRecord.objects.exists()
        assert not AuditLog.objects.exists()
        assert mail.outbox == []


@pytest.mark.django_db
class TestNoEnumeration:
    def test_an_existing_address_gets_the_same_answer_and_its_owner_a_notice(
        self, client, django_capture_on_commit_callbacks
    ):
        owner = UserFactory(email=EMAIL, last_login=NOW)
        new = sign_up_committed(client, django_capture_on_commit_callbacks, email="someone.new@example.com")
        new_page = client.get(new["Location"])
        mail.outbox.clear()

        known = sign_up_committed(client, django_capture_on_commit_callbacks, email=EMAIL.upper())
        known_page = client.get(known["Location"])

        assert (known.status_code, known["Location"]) == (new.status_code, new["Location"])
        assert without_csrf_token(known_page) == without_csrf_token(new_page)
        [notice] = mail.outbox
        assert notice.to == [EMAIL]
        assert notice.subject == "Someone tried to sign up with your TwinMCP address"
        assert "https://billing.example.com/account/login/" in notice.body
        assert "https://billing.example.com/account/password-reset/" in notice.body
        owner.refresh_from_db()
        assert owner.check_password("correct-horse-battery")  # the factory's, untouched
        assert owner.is_active
        assert not ConsentRecord.objects.filter(user=owner).exists()
        assert AuditLog.objects.filter(action="account.signup_existing", object_id=str(owner.pk)).exists()

    def test_the_password_is_hashed_whether_the_address_is_known_or_not(self, client, settings):
        settings.PASSWORD_HASHERS = ["accounts.tests.test_signup.CountingHasher"]
        UserFactory(email=EMAIL, last_login=NOW)
        CountingHasher.hashed = 0

        sign_up(client, email=EMAIL)
        for_known = CountingHasher.hashed
        sign_up(client, email="someone.new@example.com")

        assert for_known == 1
        assert CountingHasher.hashed - for_known == 1

    def test_an_address_awaiting_confirmation_signs_up_again_and_only_the_new_link_works(
        self, client, django_capture_on_commit_callbacks
    ):
        sign_up_committed(client, django_capture_on_commit_callbacks, password="first-long-passphrase-1")
        sign_up_committed(client, django_capture_on_commit_callbacks, password="second-long-passphrase-2")
        first, second = (confirm_path(message) for message in mail.outbox)

        assert client.post(first, {"password": "first-long-passphrase-1"}).status_code == 400
        response = client.post(second, {"password": "second-long-passphrase-2"})

        assert response.status_code == 302
        user = User.objects.get(email=EMAIL)
        assert user.is_active and user.check_password("second-long-passphrase-2")


@pytest.mark.django_db
class TestConfirmationLink:
    @pytest.fixture
    def link(self, client, django_capture_on_commit_callbacks):
        with time_machine.travel(NOW, tick=False):
            sign_up_committed(client, django_capture_on_commit_callbacks)
        [message] = mail.outbox
        return confirm_path(message)

    def test_opening_the_link_asks_for_the_password_and_changes_nothing(self, client, link):
        with time_machine.travel(NOW + datetime.timedelta(hours=1), tick=False):
            response = client.get(link)

        assert response.status_code == 200
        assert "Confirm my account" in response.content.decode()
        assert not User.objects.get(email=EMAIL).is_active
        assert CONFIRMED == []

    def test_confirming_activates_logs_in_and_opens_the_plan_page(self, client, link):
        confirmed_at = NOW + datetime.timedelta(hours=1)
        with time_machine.travel(confirmed_at, tick=False):
            response = client.post(link, {"password": PASSWORD})
            logged_in = client.session.get("_auth_user_id")  # read then: the session would have expired by today

        assert response.status_code == 302
        assert response["Location"] == reverse("billing:plan_change")
        user = User.objects.get(email=EMAIL)
        assert user.is_active
        assert logged_in == str(user.pk)
        assert CONFIRMED == [(user.pk, confirmed_at)]
        assert AuditLog.objects.filter(action="account.confirm", object_id=str(user.pk)).exists()

    def test_a_second_click_says_the_account_is_confirmed_already(self, client, link):
        with time_machine.travel(NOW + datetime.timedelta(hours=1), tick=False):
            client.post(link, {"password": PASSWORD})
            client.logout()

            again = client.post(link, {"password": PASSWORD})
            opened = client.get(link)

        assert again.status_code == opened.status_code == 400
        assert "Your account is already confirmed" in again.content.decode()
        assert "Your account is already confirmed" in opened.content.decode()
        assert "_auth_user_id" not in client.session
        assert len(CONFIRMED) == 1

    def test_the_link_works_until_its_age_runs_out(self, client, link):
        max_age = datetime.timedelta(seconds=settings.SIGNUP_CONFIRM_MAX_AGE)
        with time_machine.travel(NOW + max_age + datetime.timedelta(seconds=1), tick=False):
            expired = client.post(link, {"password": PASSWORD})
        with time_machine.travel(NOW + max_age - datetime.timedelta(seconds=1), tick=False):
            in_time = client.post(link, {"password": PASSWORD})

        assert expired.status_code == 400
        assert "This link has expired" in expired.content.decode()
        assert in_time.status_code == 302

    def test_an_expired_link_confirms_nothing(self, client, link):
        with time_machine.travel(NOW + datetime.timedelta(days=30), tick=False):
            response = client.post(link, {"password": PASSWORD})

        assert response.status_code == 400
        assert not User.objects.get(email=EMAIL).is_active
        assert CONFIRMED == []

    @pytest.mark.parametrize(
        "forge",
        [
            lambda link: link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:],  # the signature altered
            lambda link: "/account/signup/confirm/eyJ1c2VyIjoxfQ:1u:forged/",
            lambda link: "/account/signup/confirm/nonsense/",
        ],
    )
    def test_a_forged_link_is_refused_with_a_page(self, client, link, forge):
        with time_machine.travel(NOW + datetime.timedelta(hours=1), tick=False):
            opened = client.get(forge(link))
            posted = client.post(forge(link), {"password": PASSWORD})

        assert opened.status_code == posted.status_code == 400
        assert "This link is not valid" in posted.content.decode()
        assert not User.objects.get(email=EMAIL).is_active

    def test_a_link_does_not_reopen_an_account_staff_closed(self, client, link):
        with time_machine.travel(NOW + datetime.timedelta(hours=1), tick=False):
            client.post(link, {"password": PASSWORD})
            client.logout()
            User.objects.filter(email=EMAIL).update(is_active=False)

            response = client.post(link, {"password": PASSWORD})

        assert response.status_code == 400
        assert not User.objects.get(email=EMAIL).is_active


@pytest.mark.django_db
class TestConfirmingNeedsTheSignupsPassword:
    """The link proves the address, the password proves who signed up: someone who signs up with another
    person's address cannot get an account they hold the password of, even when its owner follows the link."""

    def test_a_wrong_password_confirms_nothing_and_says_so_by_the_field(
        self, client, django_capture_on_commit_callbacks
    ):
        sign_up_committed(client, django_capture_on_commit_callbacks)
        [message] = mail.outbox

        response = client.post(confirm_path(message), {"password": "not-the-one-chosen-99"})

        assert response.status_code == 400
        assert "This is not the password chosen when signing up." in response.content.decode()
        assert not User.objects.get(email=EMAIL).is_active
        assert "_auth_user_id" not in client.session
        assert CONFIRMED == []

    def test_an_intruders_sign_up_with_someone_elses_address_cannot_be_confirmed_by_its_owner(
        self, client, django_capture_on_commit_callbacks
    ):
        sign_up_committed(client, django_capture_on_commit_callbacks, password="intruders-long-passphrase-1")
        [intruders_link_in_owners_mailbox] = (confirm_path(message) for message in mail.outbox)

        owners_try = client.post(intruders_link_in_owners_mailbox, {"password": PASSWORD})
        sign_up_committed(client, django_capture_on_commit_callbacks, password=PASSWORD)  # the owner's own sign-up
        owners_link = confirm_path(mail.outbox[-1])
        intruders_try = client.post(intruders_link_in_owners_mailbox, {"password": "intruders-long-passphrase-1"})
        owners_confirm = client.post(owners_link, {"password": PASSWORD})

        assert owners_try.status_code == intruders_try.status_code == 400
        assert owners_confirm.status_code == 302
        user = User.objects.get(email=EMAIL)
        assert user.is_active and user.check_password(PASSWORD)
        assert not user.check_password("intruders-long-passphrase-1")

    def test_an_account_staff_made_and_deactivated_is_not_reopened_by_a_sign_up(
        self, client, django_capture_on_commit_callbacks
    ):
        staff_made = User.objects.create_user(email=EMAIL, password="set-by-staff-passphrase-7", is_active=False)

        sign_up_committed(client, django_capture_on_commit_callbacks)

        staff_made.refresh_from_db()
        assert not staff_made.is_active and staff_made.check_password("set-by-staff-passphrase-7")
        [notice] = mail.outbox
        assert "/account/signup/confirm/" not in notice.body  # its owner is told; no link to confirm anything


@pytest.mark.django_db
class TestThrottle:
    @pytest.fixture(autouse=True)
    def limit(self, settings):
        settings.SIGNUP_ATTEMPT_LIMIT = 3

    def test_one_address_is_refused_after_the_limit(self, client):
        for number in range(3):
            assert sign_up(client, email=f"user{number}@example.com").status_code == 302

        refused = sign_up(client, email="user9@example.com")

        assert refused.status_code == 429
        assert "Too many sign-up attempts" in refused.content.decode()
        assert not User.objects.filter(email="user9@example.com").exists()
        assert sign_up(client, email="user9@example.com", ip="203.0.113.50").status_code == 302

    def test_one_email_is_refused_after_the_limit_from_any_address(self, client):
        for number in range(3):
            assert sign_up(client, ip=f"203.0.113.{number + 1}").status_code == 302

        assert sign_up(client, ip="203.0.113.99").status_code == 429
        assert sign_up(client, email="other@example.com", ip="203.0.113.98").status_code == 302

    def test_invalid_attempts_count_too(self, client):
        for _ in range(3):
            assert sign_up(client, password="short").status_code == 400

        assert sign_up(client).status_code == 429
        assert not User.objects.exists()


@pytest.mark.django_db
class TestSignupService:
    def test_no_account_is_opened_without_the_terms(self):
        with pytest.raises(ValidationError):
            signup_request(email=EMAIL, password=PASSWORD, consents=[ConsentPurpose.MARKETING_EMAIL], language="en")

        assert not User.objects.exists()
