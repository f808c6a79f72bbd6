import datetime
import json

import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.core import mail
from django.urls import reverse

from accounts.models import (
    ApiKey,
    AuditChainHead,
    AuditLog,
    ConsentPurpose,
    ConsentRecord,
    OAuthToken,
    User,
    UserProfile,
)
from accounts.services import audit_log_record, audit_log_record_many
from accounts.tests.admin_helpers import (
    admin_url,
    changelist_rows,
    editable_field_names,
    every_model_is_browsable,
    unchanged_form_data,
)
from accounts.tests.factories import ApiKeyFactory, UserFactory, UserProfileFactory
from billing.tests.admin_world import finance_user

MODELS = list(apps.get_app_config("accounts").get_models())


def make_accounts_rows() -> dict:
    """One row of every accounts model, all belonging to one new customer."""
    profile = UserProfileFactory()
    user = profile.user
    api_key = ApiKeyFactory(user=user)
    audit = audit_log_record(action="api_key.create", obj=api_key, actor=user)
    return {
        User: user,
        UserProfile: profile,
        ApiKey: api_key,
        OAuthToken: OAuthToken.objects.create(
            user=user, provider="github", access_token="gho_access_secret", refresh_token="ghr_refresh_secret"
        ),
        ConsentRecord: ConsentRecord.objects.create(user=user, purpose=ConsentPurpose.TERMS, granted=True),
        AuditLog: audit,
        AuditChainHead: AuditChainHead.objects.get(),
    }


@pytest.fixture
def rows(db):
    return make_accounts_rows()


TestEveryModelIsBrowsable = every_model_is_browsable(MODELS, make_accounts_rows)


@pytest.mark.django_db
class TestSearch:
    def test_users_are_found_by_company_name(self, admin_client):
        acme = UserProfileFactory(company_name="Acme Robotics").user
        UserProfileFactory(company_name="Globex")

        assert changelist_rows(admin_client, User, q="acme rob") == [acme]

    def test_users_are_found_by_email(self, admin_client):
        alice = UserFactory(email="alice@acme.test")
        UserFactory(email="bob@globex.test")

        assert changelist_rows(admin_client, User, q="alice@") == [alice]

    def test_api_keys_are_found_by_exact_prefix(self, admin_client):
        wanted = ApiKeyFactory(prefix="abc12345")
        ApiKeyFactory(prefix="abc123456")

        assert changelist_rows(admin_client, ApiKey, q="abc12345") == [wanted]

    def test_audit_entries_are_found_by_actor_email(self, admin_client):
        alice, bob = UserFactory(email="alice@acme.test"), UserFactory(email="bob@globex.test")
        by_alice, _ = audit_log_record_many([
            AuditLog(actor=alice, action="invoice.cancel", object_type="Invoice", object_id="7"),
            AuditLog(actor=bob, action="invoice.cancel", object_type="Invoice", object_id="8"),
        ])

        assert changelist_rows(admin_client, AuditLog, q="alice@acme") == [by_alice]

    def test_audit_entries_are_found_by_exact_object_id(self, admin_client):
        wanted, _ = audit_log_record_many([
            AuditLog(action="payment.record", object_type="Payment", object_id="42"),
            AuditLog(action="payment.record", object_type="Payment", object_id="420"),
        ])

        assert changelist_rows(admin_client, AuditLog, q="42") == [wanted]


@pytest.mark.django_db
class TestUserAdmin:
    def test_staff_add_a_user_by_email_and_password(self, admin_client):
        response = admin_client.post(
            admin_url(User, "add"),
            {
                "email": "new.customer@acme.test",
                "usable_password": "true",
                "password1": "a-long-enough-passphrase",
                "password2": "a-long-enough-passphrase",
            },
        )

        assert response.status_code == 302
        user = User.objects.get(email="new.customer@acme.test")
        assert user.check_password("a-long-enough-passphrase")
        assert not user.is_staff

    def test_an_email_differing_only_in_case_is_refused(self, admin_client):
        UserFactory(email="taken@acme.test")

        response = admin_client.post(
            admin_url(User, "add"),
            {"email": "Taken@acme.test", "usable_password": "false"},
        )

        assert response.status_code == 200
        assert response.context["adminform"].form.errors
        assert User.objects.filter(email__iexact="taken@acme.test").count() == 1

    def test_staff_set_a_new_password_on_its_own_page(self, admin_client):
        user = UserFactory()

        response = admin_client.post(
            reverse("admin:auth_user_password_change", args=[user.pk]),
            {"usable_password": "true", "password1": "another-passphrase", "password2": "another-passphrase"},
        )

        assert response.status_code == 302
        user.refresh_from_db()
        assert user.check_password("another-passphrase")

    def test_the_profile_is_edited_on_the_user_page(self, admin_client):
        profile = UserProfileFactory()

        response = admin_client.get(admin_url(profile.user, "change"))

        assert "profile-0-company_name" in unchanged_form_data(response)


@pytest.mark.django_db
class TestSecretsStayHidden:
    def test_api_keys_cannot_be_added_from_the_admin(self, admin_client):
        assert admin_client.get(admin_url(ApiKey, "add")).status_code == 403

    def test_an_api_key_hash_is_never_editable(self, admin_client):
        api_key = ApiKeyFactory()
        response = admin_client.get(admin_url(api_key, "change"))
        data = unchanged_form_data(response) | {"name": "Renamed", "key_hash": "0" * 64}

        admin_client.post(admin_url(api_key, "change"), data)

        assert {"key_hash", "prefix", "user"}.isdisjoint(editable_field_names(response))
        api_key.refresh_from_db()
        assert api_key.name == "Renamed"
        assert api_key.key_hash != "0" * 64

    def test_oauth_token_values_are_not_shown(self, admin_client, rows):
        response = admin_client.get(admin_url(rows[OAuthToken], "change"))

        content = response.content.decode()
        assert "gho_access_secret" not in content
        assert "ghr_refresh_secret" not in content


@pytest.mark.django_db
class TestReadOnlyRecords:
    @pytest.mark.parametrize("model", [AuditLog, ConsentRecord], ids=lambda model: model.__name__)
    def test_cannot_be_added_changed_or_deleted(self, admin_client, rows, model):
        record = rows[model]

        assert admin_client.get(admin_url(model, "add")).status_code == 403
        assert admin_client.post(admin_url(record, "change"), {}).status_code == 403
        assert admin_client.post(admin_url(record, "delete"), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=record.pk).exists()


def admin_audit_row(obj) -> AuditLog:
    """The one audit row an admin change of `obj` wrote."""
    return AuditLog.objects.get(action="admin.change", object_type=obj._meta.label, object_id=str(obj.pk))


@pytest.fixture
def finance_client(client, db):
    client.force_login(finance_user())
    return client


@pytest.fixture
def monday():
    """16 November 2026, 10:30 in Paris, the clock stopped."""
    with time_machine.travel(datetime.datetime(2026, 11, 16, 9, 30, tzinfo=datetime.UTC), tick=False):
        yield


@pytest.mark.django_db
class TestFinanceCannotTakeOverAnAccount:
    def test_the_login_email_the_password_and_the_active_flag_are_shown_read_only(self, finance_client):
        customer = UserProfileFactory().user

        response = finance_client.get(admin_url(customer, "change"))

        editable = editable_field_names(response)
        assert {"email", "password", "is_active"}.isdisjoint(editable)
        assert {"first_name", "last_name", "company_name", "billing_email", "vat_number"} <= editable
        assert customer.email in response.content.decode()

    def test_a_forged_post_changes_neither_the_login_email_nor_the_active_flag(
        self, finance_client, django_capture_on_commit_callbacks
    ):
        customer = UserProfileFactory(company_name="Acme SARL").user
        page = finance_client.get(admin_url(customer, "change"))
        login = customer.email

        with django_capture_on_commit_callbacks(execute=True):
            response = finance_client.post(
                admin_url(customer, "change"),
                unchanged_form_data(page) | {"email": "attacker@evil.test", "first_name": "Renamed",
                                             "profile-0-company_name": "Acme SAS"},
            )

        assert response.status_code == 302
        customer.refresh_from_db()
        assert (customer.email, customer.is_active, customer.first_name) == (login, True, "Renamed")
        assert customer.profile.company_name == "Acme SAS"
        assert mail.outbox == []
        assert "email" not in admin_audit_row(customer).changes["fields"]

    def test_a_superuser_still_changes_them(self, admin_client, monday):
        customer = UserProfileFactory().user
        page = admin_client.get(admin_url(customer, "change"))
        data = unchanged_form_data(page) | {"email": "new.login@acme.test"}
        data.pop("is_active")

        response = admin_client.post(admin_url(customer, "change"), data)

        assert response.status_code == 302
        customer.refresh_from_db()
        assert (customer.email, customer.is_active) == ("new.login@acme.test", False)


@pytest.mark.django_db
class TestLoginEmailChangeNotice:
    def test_the_old_address_is_told_of_the_new_one(self, admin_client, monday, django_capture_on_commit_callbacks):
        customer = UserProfileFactory(full_name="Ada Lovelace", user__email="ada@acme.test").user
        page = admin_client.get(admin_url(customer, "change"))

        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(admin_url(customer, "change"), unchanged_form_data(page) | {"email": "ada@evil.test"})

        [message] = mail.outbox
        assert message.to == ["ada@acme.test"]
        assert message.subject == "The login email of your TwinMCP account was changed"
        body = " ".join(message.body.split())
        assert body.startswith("Hello Ada Lovelace,")
        assert (
            "On 16 November 2026, 10:30 CET, the login email of your TwinMCP account was changed from ada@acme.test "
            "to ada@evil.test." in body
        )
        assert f"write at once to {settings.SELLER['email']}" in body

    def test_nothing_is_sent_before_the_change_is_committed(self, admin_client, django_capture_on_commit_callbacks):
        customer = UserProfileFactory().user
        page = admin_client.get(admin_url(customer, "change"))

        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            admin_client.post(admin_url(customer, "change"), unchanged_form_data(page) | {"email": "new@acme.test"})

        assert mail.outbox == [] and len(callbacks) == 1

    def test_an_unchanged_email_sends_nothing(self, admin_client, django_capture_on_commit_callbacks):
        customer = UserProfileFactory().user
        page = admin_client.get(admin_url(customer, "change"))

        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(admin_url(customer, "change"), unchanged_form_data(page) | {"first_name": "Ada"})

        assert mail.outbox == []


@pytest.mark.django_db
class TestAdminChangesAreAuditedWithTheirValues:
    def test_each_changed_field_with_its_old_and_new_value(self, admin_client):
        customer = UserProfileFactory(company_name="Acme SARL", city="Paris", user__email="ada@acme.test").user
        page = admin_client.get(admin_url(customer, "change"))

        admin_client.post(
            admin_url(customer, "change"),
            unchanged_form_data(page)
            | {"email": "ada@evil.test", "profile-0-company_name": "Acme SAS", "profile-0-city": "Lyon"},
        )

        changes = admin_audit_row(customer).changes
        assert changes["fields"]["email"] == {"old": "ada@acme.test", "new": "ada@evil.test"}
        assert "first_name" not in changes["fields"]
        assert changes["inlines"] == [
            {
                "object_type": "accounts.UserProfile",
                "object_id": str(customer.profile.pk),
                "fields": {
                    "company_name": {"old": "Acme SARL", "new": "Acme SAS"}, "city": {"old": "Paris", "new": "Lyon"},
                },
            }
        ]
        assert "Email address" in changes["message"]

    def test_an_encrypted_field_is_recorded_as_changed_without_its_values(self, finance_client):
        profile = UserProfileFactory(phone="+33 1 23 45 67 89", vat_number="")
        page = finance_client.get(admin_url(profile, "change"))

        finance_client.post(
            admin_url(profile, "change"),
            unchanged_form_data(page) | {"phone": "+33 6 11 22 33 44", "vat_number": "FR40303265045"},
        )

        changes = admin_audit_row(profile).changes
        assert changes["fields"] == {"phone": {"changed": True}, "vat_number": {"changed": True}}
        assert all(value not in json.dumps(changes) for value in ("23 45 67 89", "11 22 33 44", "303265045"))

    def test_a_new_password_is_recorded_as_changed_without_its_values(self, admin_client):
        user = UserFactory()
        old_hash = user.password

        admin_client.post(
            reverse("admin:auth_user_password_change", args=[user.pk]),
            {"usable_password": "true", "password1": "another-passphrase", "password2": "another-passphrase"},
        )

        changes = admin_audit_row(user).changes
        assert changes["fields"]["password"] == {"changed": True}
        user.refresh_from_db()
        assert all(secret not in json.dumps(changes) for secret in ("another-passphrase", old_hash, user.password))

    def test_an_added_user_is_recorded_with_its_values_and_without_its_password(self, admin_client):
        admin_client.post(
            admin_url(User, "add"),
            {"email": "new.customer@acme.test", "usable_password": "true", "password1": "a-long-enough-passphrase",
             "password2": "a-long-enough-passphrase"},
        )

        user = User.objects.get(email="new.customer@acme.test")
        entry = AuditLog.objects.get(action="admin.add", object_type="accounts.User", object_id=str(user.pk))
        assert entry.changes["fields"]["email"] == {"old": None, "new": "new.customer@acme.test"}
        assert entry.changes["fields"]["password1"] == entry.changes["fields"]["password2"] == {"changed": True}
        assert "a-long-enough-passphrase" not in json.dumps(entry.changes)
