import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import override_settings

from accounts.models import ConsentRecord, OAuthToken, User, UserProfile
from accounts.tests.factories import ApiKeyFactory, UserFactory, UserProfileFactory

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
class TestUser:
    def test_email_is_the_login(self):
        user = User.objects.create_user(email="Ada@Example.com", password="s3cret-passphrase")

        assert User.USERNAME_FIELD == "email"
        assert user.email == "Ada@example.com"
        assert user.check_password("s3cret-passphrase")

    def test_email_is_unique_whatever_its_case(self):
        UserFactory(email="ada@example.com")

        with pytest.raises(IntegrityError), transaction.atomic():
            UserFactory(email="ADA@example.com")


@pytest.mark.django_db
class TestEncryptedProfileFields:
    ENCRYPTED = {
        "address_line1": "10 rue de Rivoli",
        "address_line2": "Bâtiment B",
        "postal_code": "75001",
        "phone": "+33 1 23 45 67 89",
        "vat_number": "FR40303265045",
    }

    def test_raw_sql_shows_ciphertext_and_the_orm_plaintext(self):
        profile = UserProfileFactory(**self.ENCRYPTED)

        for field, plaintext in self.ENCRYPTED.items():
            stored = raw_column("accounts_userprofile", field, profile.pk)
            assert plaintext not in stored
            assert stored.startswith("gAAAA")  # a Fernet token
        reloaded = UserProfile.objects.get(pk=profile.pk)
        assert {field: getattr(reloaded, field) for field in self.ENCRYPTED} == self.ENCRYPTED

    def test_oauth_tokens_are_encrypted(self):
        token = OAuthToken.objects.create(
            user=UserFactory(), provider="github", access_token="gho_secret", refresh_token="ghr_secret"
        )

        assert "gho_secret" not in raw_column("accounts_oauthtoken", "access_token", token.pk)
        assert "ghr_secret" not in raw_column("accounts_oauthtoken", "refresh_token", token.pk)
        assert OAuthToken.objects.get(pk=token.pk).access_token == "gho_secret"

    def test_a_value_written_under_an_older_key_still_reads(self):
        with override_settings(FIELD_ENCRYPTION_KEY=[KEY_A]):
            profile = UserProfileFactory(phone="+33 6 00 00 00 01")

        with override_settings(FIELD_ENCRYPTION_KEY=[KEY_B, KEY_A]):
            assert UserProfile.objects.get(pk=profile.pk).phone == "+33 6 00 00 00 01"

    def test_new_writes_use_the_newest_key(self):
        with override_settings(FIELD_ENCRYPTION_KEY=[KEY_B, KEY_A]):
            profile = UserProfileFactory(phone="+33 6 00 00 00 02")
        stored = raw_column("accounts_userprofile", "phone", profile.pk)

        assert Fernet(KEY_B.encode()).decrypt(stored.encode()) == b"+33 6 00 00 00 02"

    def test_a_value_under_a_removed_key_fails_loudly(self):
        with override_settings(FIELD_ENCRYPTION_KEY=[KEY_A]):
            profile = UserProfileFactory(phone="+33 6 00 00 00 03")

        with override_settings(FIELD_ENCRYPTION_KEY=[KEY_B]), pytest.raises(ImproperlyConfigured, match="retired key"):
            UserProfile.objects.get(pk=profile.pk)

    def test_empty_values_stay_empty(self):
        profile = UserProfileFactory(address_line2="")

        assert raw_column("accounts_userprofile", "address_line2", profile.pk) == ""
        assert UserProfile.objects.get(pk=profile.pk).address_line2 == ""


@pytest.mark.django_db
class TestApiKey:
    def test_prefix_is_unique(self):
        ApiKeyFactory(prefix="abc12345")

        with pytest.raises(IntegrityError), transaction.atomic():
            ApiKeyFactory(prefix="abc12345")

    def test_prefix_is_at_most_twelve_characters(self):
        key = ApiKeyFactory.build(user=UserFactory(), prefix="x" * 13)

        with pytest.raises(ValidationError) as error:
            key.full_clean()
        assert "prefix" in error.value.message_dict


@pytest.mark.django_db
class TestEnums:
    def test_consent_purpose_refuses_an_unknown_value(self):
        consent = ConsentRecord(user=UserFactory(), purpose="SELLING_DATA", granted=True)

        with pytest.raises(ValidationError) as error:
            consent.full_clean()
        assert "purpose" in error.value.message_dict

    def test_profile_language_refuses_an_unknown_value(self):
        profile = UserProfileFactory.build(user=UserFactory(), language="de")

        with pytest.raises(ValidationError) as error:
            profile.full_clean()
        assert "language" in error.value.message_dict
