from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django_celery_beat.models import PeriodicTask

from accounts.models import OAuthToken, UserProfile
from accounts.tests.factories import UserFactory, UserProfileFactory

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def decrypts_with(key: str, token: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(token.encode())
    except Exception:
        return False
    return True


@pytest.mark.django_db
class TestRotation:
    @pytest.fixture
    def written_under_a(self, settings):
        settings.FIELD_ENCRYPTION_KEY = [KEY_A]
        profiles = [UserProfileFactory(phone=f"+33 6 00 00 00 {n:02d}", vat_number="FR40303265045") for n in range(7)]
        token = OAuthToken.objects.create(user=UserFactory(), provider="github", access_token="gho_secret")
        return profiles, token

    def test_values_move_to_the_new_key_and_still_read(self, settings, written_under_a):
        profiles, token = written_under_a
        settings.FIELD_ENCRYPTION_KEY = [KEY_B, KEY_A]

        call_command("rotate_encryption_keys", "--batch-size", "3", stdout=StringIO())

        for profile in profiles:
            stored = raw("accounts_userprofile", "phone", profile.pk)
            assert decrypts_with(KEY_B, stored) and not decrypts_with(KEY_A, stored)
        assert decrypts_with(KEY_B, raw("accounts_oauthtoken", "access_token", token.pk))
        settings.FIELD_ENCRYPTION_KEY = [KEY_B]  # A can now be removed
        assert UserProfile.objects.get(pk=profiles[0].pk).phone == "+33 6 00 00 00 00"
        assert OAuthToken.objects.get(pk=token.pk).access_token == "gho_secret"

    def test_the_check_fails_before_and_passes_after(self, settings, written_under_a):
        settings.FIELD_ENCRYPTION_KEY = [KEY_B, KEY_A]

        with pytest.raises(CommandError, match="still use a retired key"):
            call_command("check_encryption_keys", stdout=StringIO())
        call_command("rotate_encryption_keys", stdout=StringIO())
        out = StringIO()
        call_command("check_encryption_keys", stdout=out)

        assert "every encrypted value uses the newest key" in out.getvalue()

    def test_a_second_run_rewrites_nothing(self, settings, written_under_a):
        settings.FIELD_ENCRYPTION_KEY = [KEY_B, KEY_A]
        call_command("rotate_encryption_keys", stdout=StringIO())
        before = raw("accounts_userprofile", "phone", written_under_a[0][0].pk)

        out = StringIO()
        call_command("rotate_encryption_keys", stdout=out)

        assert "0 value(s) re-encrypted" in out.getvalue()
        assert raw("accounts_userprofile", "phone", written_under_a[0][0].pk) == before


@pytest.mark.django_db
def test_rotation_is_scheduled_every_30_days():
    task = PeriodicTask.objects.get(name="Encryption key rotation")

    assert task.task == "accounts.tasks.encryption_keys_rotate_task"
    assert (task.interval.every, task.interval.period) == (30, "days")
    assert task.enabled
