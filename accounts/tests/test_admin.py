import pytest
from django.apps import apps
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
