import os

import pytest
from rest_framework.test import APIClient

from fleet.choices import Role
from tests.factories import PASSWORD, MunicipalityFactory, UserFactory


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.KINISI_GRAPH_DIR = tmp_path / "graphs"
    settings.LANGUAGE_CODE = "en"
    # Fast hashing: the tests create many users; the real hasher is tested by Django itself.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def municipality_a(db):
    return MunicipalityFactory(name="Δήμος Α", slug="town-a")


@pytest.fixture
def municipality_b(db):
    return MunicipalityFactory(name="Δήμος Β", slug="town-b")


@pytest.fixture
def users_a(municipality_a):
    """One user of municipality A per role, keyed by role value."""
    return {
        role: UserFactory(username=f"a-{role}", municipality=municipality_a, role=role)
        for role in Role.values
    }


@pytest.fixture
def users_b(municipality_b):
    return {
        role: UserFactory(username=f"b-{role}", municipality=municipality_b, role=role)
        for role in Role.values
    }


@pytest.fixture
def api_client_for():
    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def web_client_for(client):
    def make(user):
        client.force_login(user)
        return client

    return make


@pytest.fixture
def password():
    return PASSWORD


# A test that needs PostgreSQL skips on the SQLite pass and runs on CI's PostgreSQL pass; every
# other skip in CI means a missing system package.
ALLOWED_CI_SKIP = "needs PostgreSQL"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def pytest_sessionfinish(session, exitstatus):
    """In CI every system package is installed, so a skipped test is a broken setup."""
    if os.environ.get("CI") and exitstatus == 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        skips = reporter.stats.get("skipped", []) if reporter else []
        using_postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
        skipped = [
            r
            for r in skips
            if using_postgres or not _skip_reason(r).startswith(f"Skipped: {ALLOWED_CI_SKIP}")
        ]
        if skipped:
            reporter.write_line(
                f"CI: {len(skipped)} test(s) skipped; nothing may skip in CI.", red=True
            )
            session.exitstatus = 1
