"""The deployment files: docker-compose.yml is valid and complete, .env.example and README.md are in step."""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
README = PROJECT_ROOT / "README.md"
SETTINGS_DIR = PROJECT_ROOT / "twinmcp" / "settings"

# Dummy values: compose refuses the file without them.
REQUIRED_SECRETS = {
    "SECRET_KEY": "compose-config-check-not-a-secret",
    "FIELD_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "AUDIT_LOG_KEYS": "compose-config-check-not-an-audit-log-key",
    "SITE_URL": "https://billing.example.com",
}
APP_SERVICES = ("web", "worker", "beat")

# env("NAME"), env.bool("NAME", …), os.environ.get("NAME"), os.getenv("NAME"), os.environ["NAME"], …
SETTINGS_VARIABLE = re.compile(
    r"""(?:\benv(?:\.\w+)?\(|\bos\.(?:environ(?:\.get|\.setdefault)?|getenv)[(\[])\s*["']([A-Z][A-Z0-9_]*)["']"""
)


def docker_compose_config(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.fail(
            "docker-compose is not installed: `make test` installs it (Debian package docker-compose); "
            "or run `apt-get install docker-compose`."
        )
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMPOSE_")}
    for name in REQUIRED_SECRETS:
        env.pop(name, None)
    env.update(env_overrides)
    # An empty --env-file: a developer's .env must not fill in what the test leaves out.
    with tempfile.NamedTemporaryFile(suffix=".env") as empty_env_file:
        return subprocess.run(
            [executable, "--env-file", empty_env_file.name, "-f", str(COMPOSE_FILE), "config", "-q"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )


def settings_variables() -> set[str]:
    names = set()
    for path in SETTINGS_DIR.glob("*.py"):
        names.update(SETTINGS_VARIABLE.findall(path.read_text()))
    return names


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


class TestComposeFile:
    def test_docker_compose_accepts_it(self):
        result = docker_compose_config(REQUIRED_SECRETS)

        assert result.returncode == 0, result.stderr

    @pytest.mark.parametrize("missing", sorted(REQUIRED_SECRETS))
    def test_docker_compose_refuses_it_without_a_required_secret(self, missing):
        secrets = {name: value for name, value in REQUIRED_SECRETS.items() if name != missing}

        result = docker_compose_config(secrets)

        assert result.returncode != 0
        assert f"set {missing}" in result.stderr

    @pytest.mark.parametrize(
        ("service", "image"),
        [
            ("postgres", "postgres:15-alpine"),
            ("redis", "redis:7-alpine"),
            ("pgadmin", "dpage/pgadmin4"),
            ("qdrant", "qdrant/qdrant"),
            ("minio", "minio/minio"),
        ],
    )
    def test_infrastructure_services_use_their_images(self, compose, service, image):
        assert compose["services"][service]["image"] == image

    @pytest.mark.parametrize("service", APP_SERVICES)
    def test_app_services_are_built_from_the_project_with_production_settings(self, compose, service):
        definition = compose["services"][service]
        build = definition["build"]
        context = build if isinstance(build, str) else build.get("context", ".")

        assert (PROJECT_ROOT / context).resolve() == PROJECT_ROOT
        assert (PROJECT_ROOT / "Dockerfile").is_file()
        assert definition["environment"]["DJANGO_SETTINGS_MODULE"] == "twinmcp.settings.production"
        assert "@postgres:5432/" in definition["environment"]["DATABASE_URL"]
        assert definition["environment"]["REDIS_URL"].startswith("redis://redis:6379/")
        assert definition["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert definition["depends_on"]["redis"]["condition"] == "service_healthy"

    def test_web_migrates_before_serving_and_the_workers_run_celery(self, compose):
        services = compose["services"]
        web_command = " ".join(services["web"]["command"])
        worker_command = " ".join(services["worker"]["command"])
        beat_command = " ".join(services["beat"]["command"])

        assert web_command.index("migrate") < web_command.index("gunicorn twinmcp.wsgi:application")
        assert "celery -A twinmcp worker" in worker_command
        assert "celery -A twinmcp beat" in beat_command
        assert "django_celery_beat.schedulers:DatabaseScheduler" in beat_command

    def test_every_named_volume_and_network_is_declared(self, compose):
        used_volumes, used_networks = set(), set()
        for definition in compose["services"].values():
            for volume in definition.get("volumes", []):
                source = volume.split(":", 1)[0]
                if not source.startswith((".", "/")):
                    used_volumes.add(source)
            used_networks.update(definition.get("networks", []))

        assert used_volumes <= set(compose["volumes"])
        assert used_networks <= set(compose["networks"])
        assert "backend" in compose["networks"]


class TestEnvExample:
    def test_names_every_variable_the_settings_read(self):
        documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
        read_by_settings = settings_variables()

        assert read_by_settings, "no env(...) call found in twinmcp/settings: the pattern is out of date"
        assert read_by_settings - documented == set()

    def test_names_every_variable_the_compose_file_interpolates(self):
        documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
        interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))

        assert interpolated - documented == set()


class TestReadme:
    def test_starts_with_make_run_and_make_test(self):
        text = README.read_text()
        first_section = re.search(r"^##\s", text, flags=re.MULTILINE)
        opening = text[: first_section.start()] if first_section else text

        assert "make run" in opening
        assert "make test" in opening
        assert opening.index("make run") < opening.index("make test")

    def test_documents_every_variable_the_settings_read(self):
        text = README.read_text()

        assert {name for name in settings_variables() if f"`{name}`" not in text} == set()
