import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "a-real-secret-" + "k3y" * 20,
    "DJANGO_ALLOWED_HOSTS": "fleet.example.gr",
    "DATABASE_URL": "postgres://kinisi@127.0.0.1:5432/kinisi",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def _check(env: dict) -> subprocess.CompletedProcess:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy(tmp_path):
    result = _check(PRODUCTION_ENV | {"KINISI_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_settings_do_not_pass_check_deploy(tmp_path):
    # The control: the check does fail when the production variables are missing.
    result = _check({"KINISI_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = dict(PRODUCTION_ENV, KINISI_VAR_DIR=str(tmp_path))
    del env["DJANGO_SECRET_KEY"]
    result = _check(env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_an_unknown_database_url_is_refused_with_a_message_that_hides_the_password(tmp_path):
    env = dict(PRODUCTION_ENV, KINISI_VAR_DIR=str(tmp_path))
    env["DATABASE_URL"] = "postgress://kinisi:s3cret-pw@127.0.0.1/kinisi"
    result = _check(env)
    assert result.returncode != 0
    assert "DATABASE_URL: unknown database 'postgress'" in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_an_empty_database_url_means_the_embedded_database(tmp_path):
    result = _check({"KINISI_VAR_DIR": str(tmp_path), "DATABASE_URL": ""})
    # Development settings: the deploy check warns, but the settings load (no traceback).
    assert "Traceback" not in result.stderr, result.stderr
    assert "security.W" in result.stdout + result.stderr
