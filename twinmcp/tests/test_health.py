import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.helpers import clean_environment, run_manage
from twinmcp.celery import app as celery_app

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"
UNREACHABLE_CACHE = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CLOSED_PORT_REDIS,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5, "IGNORE_EXCEPTIONS": True},
    }
}


@pytest.mark.django_db
class TestHealthEndpoint:
    def test_everything_up_answers_200(self, client):
        response = client.get("/health/")

        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "up"
        assert body["down"] == []
        assert {name: service["status"] for name, service in body["services"].items()} == {
            "database": "up",
            "cache": "up",
            "broker": "up",
        }

    def test_unreachable_redis_cache_answers_503_naming_it(self, client):
        with override_settings(CACHES=UNREACHABLE_CACHE):
            response = client.get("/health/")

        assert response.status_code == 503
        body = response.json()
        assert body["down"] == ["cache"]
        assert body["services"]["cache"]["status"] == "down"
        assert body["services"]["database"]["status"] == "up"

    def test_unreachable_broker_answers_503_naming_it(self, client, monkeypatch):
        monkeypatch.setattr(celery_app.conf, "broker_url", CLOSED_PORT_REDIS)

        response = client.get("/health/")

        assert response.status_code == 503
        assert response.json()["down"] == ["broker"]

    def test_health_is_never_cached(self, client):
        response = client.get("/health/")

        assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
class TestHealthCommand:
    def test_prints_each_service_and_succeeds_when_all_up(self, capsys):
        call_command("health")

        output = capsys.readouterr().out
        assert "database: up" in output
        assert "cache: up" in output
        assert "broker: up" in output

    def test_fails_naming_the_cache_when_redis_is_unreachable(self):
        with override_settings(CACHES=UNREACHABLE_CACHE), pytest.raises(CommandError, match="down: cache"):
            call_command("health")


@pytest.mark.slow
def test_health_command_exits_non_zero_when_redis_is_down():
    env = clean_environment(
        DJANGO_SETTINGS_MODULE="twinmcp.settings.test",
        DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres",
        REDIS_URL=CLOSED_PORT_REDIS,
    )

    result = run_manage("health", env=env, timeout=60)

    assert result.returncode != 0
    assert "cache: down" in result.stdout
    assert "broker: down" in result.stdout
    assert "database: up" in result.stdout
