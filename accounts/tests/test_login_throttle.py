import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory

PASSWORD = "correct-horse-battery"  # the factory's


@pytest.fixture
def throttled(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def attempt(client, url, email, password, ip="198.51.100.7"):
    return client.post(url, {"username": email, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
class TestLoginThrottle:
    @pytest.mark.parametrize("url_name", ["accounts:login", "admin:login"])
    def test_repeated_failures_lock_the_account_from_that_address(self, client, throttled, url_name):
        user = UserFactory(email="ada@example.com", is_staff=True)
        url = reverse(url_name)
        for _ in range(2):
            assert attempt(client, url, user.email, "wrong-password").status_code == 200
        assert attempt(client, url, user.email, "wrong-password").status_code == 429  # the third locks

        locked = attempt(client, url, user.email, PASSWORD)

        assert locked.status_code == 429
        assert "Too many failed logins" in locked.content.decode()
        assert "_auth_user_id" not in client.session

    def test_another_address_is_not_locked_out(self, client, throttled):
        user = UserFactory(email="ada@example.com")
        url = reverse("accounts:login")
        for _ in range(3):
            attempt(client, url, user.email, "wrong-password")

        response = attempt(client, url, user.email, PASSWORD, ip="203.0.113.50")

        assert response.status_code == 302
        assert client.session["_auth_user_id"] == str(user.pk)

    def test_a_success_before_the_limit_starts_the_count_again(self, client, throttled):
        user = UserFactory(email="ada@example.com")
        url = reverse("accounts:login")
        attempt(client, url, user.email, "wrong-password")
        attempt(client, url, user.email, "wrong-password")
        assert attempt(client, url, user.email, PASSWORD).status_code == 302
        client.logout()

        for _ in range(2):
            attempt(client, url, user.email, "wrong-password")

        assert attempt(client, url, user.email, PASSWORD).status_code == 302


@pytest.mark.django_db
class TestSecurityHeaders:
    def test_pages_carry_a_content_security_policy_and_refuse_framing(self, client):
        response = client.get(reverse("accounts:login"))

        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"

    def test_the_api_docs_need_no_inline_script(self, client):
        user = UserFactory()
        client.force_login(user)

        page = client.get("/api/docs/").content.decode()

        assert "<script>" not in page.replace(" ", "")
