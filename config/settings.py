"""Kinisi settings: one module, driven by environment variables.

Development needs nothing set: SQLite in ``var/``, Celery on its filesystem transport, an in-process
channel layer. Production sets at least ``DJANGO_DEBUG=false``, ``DJANGO_SECRET_KEY``,
``DJANGO_ALLOWED_HOSTS``, ``DATABASE_URL`` and ``REDIS_URL`` (see README, "Production").
"""

import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("KINISI_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    # Only ever used with DEBUG on; production refuses to start without its own key (below).
    default="django-insecure-kinisi-development-key-change-me-" + "x" * 20,
)
if not DEBUG and SECRET_KEY.startswith("django-insecure"):
    raise environ.ImproperlyConfigured("Set DJANGO_SECRET_KEY when DJANGO_DEBUG is false.")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "leaflet",
    "channels",
    "fleet",
    "telematics",
    "dispatch",
    "reports",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.GreekFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fleet.context_processors.kinisi",
                "notifications.context_processors.notifications",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
# An empty DATABASE_URL is the same as none: the embedded SQLite database.
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'kinisi.sqlite3'}"
DATABASES = {"default": environ.Env.db_url_config(DATABASE_URL)}
if DATABASES["default"].get("ENGINE") not in (
    "django.db.backends.sqlite3",
    "django.db.backends.postgresql",
):
    # The scheme only: the rest of the URL may hold a password.
    raise environ.ImproperlyConfigured(
        f"DATABASE_URL: unknown database {DATABASE_URL.partition(':')[0]!r}; Kinisi runs on "
        "PostgreSQL or SQLite: "
        "postgres://user:password@host:5432/name or sqlite:////absolute/path.sqlite3"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The gateway, the workers and the web write at once: WAL lets readers run beside the one
    # writer, IMMEDIATE takes the write lock at BEGIN (no deadlocking lock upgrades) and the busy
    # timeout makes a writer wait instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # A file (not :memory:) so a gateway started by a test in another process sees the same
    # database; one per test run, so two runs at once never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-kinisi-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, channel layer, cache (all optional) ---------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # In-memory does not cross processes: without Redis the web process follows the live-state
    # table itself and pushes changes to its own WebSocket clients.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery ----------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if REDIS_URL
    else {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
)
if not REDIS_URL:
    for _folder in ("queue", "processed", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "Europe/Athens"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Telematics: next month's positions partition exists before the month starts.
    "telematics-partitions": {
        "task": "telematics.position_partitions_ensure",
        "schedule": crontab(hour=1, minute=10),
    },
    # Telematics: trackers gone silent get their "offline" event while still silent.
    "telematics-trackers-offline": {"task": "telematics.trackers_offline", "schedule": 60.0},
    # Telematics: stored positions whose hand-off to the workers was lost (gateway killed
    # between commit and hand-off) are processed after a grace period.
    "telematics-motion-catchup": {"task": "telematics.motion_catchup", "schedule": 300.0},
    # Dispatch: jobs go on site / done from the vehicles' live positions; recurring rounds are
    # generated a week ahead every night.
    "dispatch-arrivals": {"task": "dispatch.arrivals_track", "schedule": 5.0},
    "dispatch-recurrences": {
        "task": "dispatch.recurrences_generate",
        "schedule": crontab(hour=2, minute=15),
    },
    # Fuel and maintenance: anomaly checks once the night's daily summaries are in, then reminders.
    "fleet-fuel-anomalies-daily": {
        "task": "fleet.fuel_anomalies_daily",
        "schedule": crontab(hour=4, minute=30),
    },
    "fleet-compliance-reminders": {
        "task": "fleet.compliance_reminders",
        "schedule": crontab(hour=7, minute=0),
    },
    # Reports: the previous month's fuel and maintenance reports on the 1st, e-mailed to the fleet
    # managers (KINISI_REPORTS_EMAIL=false keeps them on the reports page only).
    "reports-monthly": {
        "task": "reports.monthly",
        "schedule": crontab(day_of_month=1, hour=6, minute=0),
    },
}
KINISI_REPORTS_EMAIL = env.bool("KINISI_REPORTS_EMAIL", default=True)
# Motion catch-up: positions stored this long ago (seconds) and still beyond the device's
# motion checkpoint were never handed off; enqueued again at most once per retry interval.
KINISI_MOTION_CATCHUP_GRACE_S = env.int("KINISI_MOTION_CATCHUP_GRACE_S", default=600)
KINISI_MOTION_CATCHUP_RETRY_S = env.int("KINISI_MOTION_CATCHUP_RETRY_S", default=3600)
# Notifications: events older than this (minutes) when processed notify nobody (late uploads,
# rebuilds); the tracker-offline threshold itself is per municipality (MotionSettings).
KINISI_NOTIFY_MAX_AGE_MINUTES = env.int("KINISI_NOTIFY_MAX_AGE_MINUTES", default=60)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Auth ------------------------------------------------------------------------------------
AUTH_USER_MODEL = "fleet.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "fleet:dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation --------------------------------------------------------------------
LANGUAGE_CODE = "el"
LANGUAGES = [("el", _("Greek")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "config" / "locale"]
TIME_ZONE = "Europe/Athens"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True
FORMAT_MODULE_PATH = ["config.formats"]

# --- Static and uploaded files ---------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
WHITENOISE_USE_FINDERS = DEBUG
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
KINISI_DOCUMENT_MAX_BYTES = env.int("KINISI_DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024)

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["fleet.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "fleet.api_base.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kinisi API",
    "DESCRIPTION": "Fleet management and dispatch for municipalities.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Several models have a "category", "kind" or "status": name each choice set once.
    "ENUM_NAME_OVERRIDES": {
        "VehicleCategoryEnum": "fleet.choices.VehicleCategory",
        "VehicleKindEnum": "fleet.choices.VehicleKind",
        "VehicleStatusEnum": "fleet.choices.VehicleStatus",
        "FuelTypeEnum": "fleet.choices.FuelType",
        "MeterEnum": "fleet.choices.Meter",
        "LicenceCategoryEnum": "fleet.choices.LicenceCategory",
        "DocumentKindEnum": "fleet.choices.DocumentKind",
        "RoleEnum": "fleet.choices.Role",
        "WorkOrderStatusEnum": "fleet.models.maintenance.WorkOrderStatus",
        "KteoResultEnum": "fleet.models.maintenance.KteoResult",
        "ExpenseKindEnum": "fleet.models.maintenance.ExpenseKind",
        "FuelSourceEnum": "fleet.models.fuel.FuelSource",
        "ImportStatusEnum": "fleet.models.fuel.ImportStatus",
        "AnomalyKindEnum": "fleet.models.fuel.AnomalyKind",
        "AnomalyStatusEnum": "fleet.models.fuel.AnomalyStatus",
        "GeofenceRoleEnum": "telematics.motion_models.GeofenceRole",
        "GeofenceKindEnum": "telematics.motion_models.GeofenceKind",
        "ProtocolEnum": "telematics.models.Protocol",
        "JobKindEnum": "dispatch.choices.JobKind",
        "JobSourceEnum": "dispatch.choices.JobSource",
        "JobStatusEnum": "dispatch.choices.JobStatus",
        "JobActionEnum": "dispatch.choices.JobAction",
        "MovementOrderStatusEnum": "dispatch.choices.MovementOrderStatus",
        "PlanStatusEnum": "dispatch.choices.PlanStatus",
        "UnloadSiteKindEnum": "dispatch.choices.UnloadSiteKind",
        "ReportKindEnum": "reports.models.ReportKind",
        "ReportStatusEnum": "reports.models.ReportStatus",
    },
}

# --- Maps ------------------------------------------------------------------------------------
# Empty: no tile server; maps draw the municipality's streets from its own road graph.
KINISI_TILE_URL = env.str("KINISI_TILE_URL", default="")
KINISI_TILE_ATTRIBUTION = env.str("KINISI_TILE_ATTRIBUTION", default="© OpenStreetMap contributors")
LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (35.511, 24.022),
    "DEFAULT_ZOOM": 15,
    "MIN_ZOOM": 3,
    "MAX_ZOOM": 19,
    "TILES": []
    if not KINISI_TILE_URL
    else [("OSM", KINISI_TILE_URL, {"attribution": KINISI_TILE_ATTRIBUTION})],
    "ATTRIBUTION_PREFIX": "Kinisi",
    "RESET_VIEW": False,
}
KINISI_GRAPH_DIR = Path(env.str("KINISI_GRAPH_DIR", default=str(VAR_DIR / "graphs")))
KINISI_OSM_DIR = BASE_DIR / "data" / "osm"

# --- Compliance ------------------------------------------------------------------------------
KINISI_REMINDER_DAYS = env.int("KINISI_REMINDER_DAYS", default=30)

# --- Demo ------------------------------------------------------------------------------------
KINISI_DEMO_PASSWORD = env.str("KINISI_DEMO_PASSWORD", default="kinisi-demo")

# --- E-mail ----------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="kinisi@localhost")

# --- Security (production) -------------------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

# --- Logging ---------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("KINISI_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
