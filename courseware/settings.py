"""Lotse's settings: all of them, read from the environment.

Without any environment the platform runs on embedded defaults that need nothing
installed: SQLite, the in-memory channel layer and Celery tasks run eagerly.
``DATABASE_URL`` switches to PostgreSQL; ``REDIS_URL`` switches the channel layer and the
Celery broker to Redis. With ``DEBUG`` off, a secret key and allowed hosts are required.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from courseware.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

# A development key exists only while DEBUG is on; production must bring its own.
_DEV_SECRET_KEY = "dev-only-insecure-key-never-used-with-debug-off"
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off")
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DEBUG is off")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",  # ASGI runserver; must come before django.contrib.staticfiles
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "courseware",
    "labs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during the view into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "courseware.urls"
ASGI_APPLICATION = "courseware.asgi.application"
WSGI_APPLICATION = "courseware.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite unless DATABASE_URL names another (postgres://user@host:port/name).
DATABASES = {
    "default": dj_database_url.parse(
        env_secret("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Labs are provisioned, and checks recorded, from several threads. A writer waits for
    # SQLite's lock (timeout), a transaction takes it when it begins (IMMEDIATE: one that
    # read first could not wait for it, and would fail with "database is locked"), and
    # readers are not blocked by the writer (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: the channel layer between ASGI processes and the Celery broker.
REDIS_URL = env_secret("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # A consumer waits for messages with BZPOPMIN for 5 s at a time; redis-py's own
            # read timeout is 5 s too, and would end every websocket idle that long.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# The cache holds what many processes read and nobody must lose sleep over (terminal
# activity, the "Check now" rate limit): Redis when there is one, this process's memory
# otherwise.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker there is no worker: run tasks in the caller, as a worker would.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", CELERY_BROKER_URL == "memory://")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
# A task whose worker died unacknowledged goes back to the queue after this long.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# Beat re-judges the opened tasks of running cohorts this often, through the API, so that
# results stay true when no watcher saw a change (docs/checks.md).
CHECK_SWEEP_SECONDS = env_int("CHECK_SWEEP_SECONDS", 300)
CELERY_BEAT_SCHEDULE = {
    "schedule-labs": {"task": "courseware.tasks.schedule_labs", "schedule": 300.0},
    "sweep-checks": {
        "task": "courseware.tasks.sweep_checks",
        "schedule": float(CHECK_SWEEP_SECONDS),
    },
    "sweep-orphans": {
        "task": "labs.tasks.sweep_orphans",
        "schedule": 3600.0,
        "kwargs": {"remove": env_bool("LAB_SWEEP_REMOVES_ORPHANS", False)},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Browser libraries come from the npm registry (package.json) and are served from
# node_modules under a prefix each; nothing third-party is committed.
_NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/reveal.js", _NODE_MODULES / "reveal.js" / "dist"),
    ("vendor/reveal.js/plugin", _NODE_MODULES / "reveal.js" / "plugin"),
    ("vendor/htmx", _NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/xterm/lib", _NODE_MODULES / "@xterm" / "xterm" / "lib"),
    ("vendor/xterm/css", _NODE_MODULES / "@xterm" / "xterm" / "css"),
    ("vendor/xterm-addon-fit", _NODE_MODULES / "@xterm" / "addon-fit" / "lib"),
]
# In development WhiteNoise serves straight from the finders; production serves STATIC_ROOT
# as built by collectstatic (compressed, with hashed names).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Course content: the Markdown source of truth and the Kubernetes release whose
# OpenAPI schema validates every manifest in it.
COURSE_CONTENT_DIR = Path(env_str("COURSE_CONTENT_DIR", str(BASE_DIR / "slides")))
# Empty means the newest release that the installed kubernetes-validate knows.
KUBERNETES_SCHEMA_VERSION = env_str("KUBERNETES_SCHEMA_VERSION", "")

AUTHENTICATION_BACKENDS = [
    "courseware.auth.LoginThrottle",  # first: a locked-out login goes no further
    "courseware.auth.EmailOrUsernameBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "courseware:home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes): failures are counted per login and client address; at
# the limit that login is refused from that address, whatever the password, until the
# cool-off has passed since its last attempt. Successful logins are not recorded.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "courseware.auth.login_name"
AXES_CLIENT_IP_CALLABLE = "courseware.auth.client_address"
AXES_LOCKOUT_CALLABLE = "courseware.auth.locked_out"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False  # no banner on every start; failures and lockouts are still logged
# Proxies in front of Lotse that append the client's address to X-Forwarded-For (0: none,
# the address is the connection's).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Labs: cluster credentials are encrypted with these Fernet keys (the first encrypts).
KUBECONFIG_ENCRYPTION_KEYS = [
    key.strip() for key in env_secret("KUBECONFIG_ENCRYPTION_KEYS").split(",") if key.strip()
]
if not KUBECONFIG_ENCRYPTION_KEYS and DEBUG:
    # Development only: a key derived from the (development) secret key, so the quick
    # start needs no extra setup. Production must set its own.
    _digest = hashlib.sha256(f"lotse-kubeconfig:{SECRET_KEY}".encode()).digest()
    KUBECONFIG_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(_digest).decode()]
# When a cohort's labs are provisioned before its start, and torn down after its end.
LAB_PROVISION_LEAD_HOURS = env_int("LAB_PROVISION_LEAD_HOURS", 12)
LAB_TEARDOWN_GRACE_HOURS = env_int("LAB_TEARDOWN_GRACE_HOURS", 24)
# How many labs of one cohort are provisioned at the same time.
LAB_PROVISION_CONCURRENCY = env_int("LAB_PROVISION_CONCURRENCY", 8)
# How long the token in a trainee's downloaded kubeconfig lives.
LAB_KUBECONFIG_TOKEN_SECONDS = env_int("LAB_KUBECONFIG_TOKEN_SECONDS", 8 * 3600)
# How long provisioning waits for a lab's toolbox pod to become ready.
LAB_READY_TIMEOUT_SECONDS = env_int("LAB_READY_TIMEOUT_SECONDS", 300)

# The browser terminal (docs/terminal.md). "kubernetes" execs into the lab's toolbox pod;
# "local" runs a shell on this machine with the lab's kubeconfig, for development against
# the simulated cluster only: it must be switched on by LAB_TERMINAL_LOCAL_SHELL, and never
# with DEBUG off.
LAB_TERMINAL_BACKEND = env_str("LAB_TERMINAL_BACKEND", "kubernetes")
if LAB_TERMINAL_BACKEND not in ("kubernetes", "local"):
    raise ImproperlyConfigured(
        f"LAB_TERMINAL_BACKEND={LAB_TERMINAL_BACKEND!r} is not a terminal backend "
        "(use kubernetes or local)"
    )
LAB_TERMINAL_LOCAL_SHELL = env_bool("LAB_TERMINAL_LOCAL_SHELL", False)
# Without bubblewrap the local shell would run unconfined: only with this switched on too.
LAB_TERMINAL_LOCAL_UNCONFINED = env_bool("LAB_TERMINAL_LOCAL_UNCONFINED", False)
if (LAB_TERMINAL_LOCAL_SHELL or LAB_TERMINAL_LOCAL_UNCONFINED) and not DEBUG:
    raise ImproperlyConfigured(
        "LAB_TERMINAL_LOCAL_SHELL and LAB_TERMINAL_LOCAL_UNCONFINED run shells on this machine: "
        "they are for development only and refused when DEBUG is off"
    )
if LAB_TERMINAL_BACKEND == "local" and not LAB_TERMINAL_LOCAL_SHELL:
    raise ImproperlyConfigured(
        "LAB_TERMINAL_BACKEND=local runs shells on this machine: set LAB_TERMINAL_LOCAL_SHELL=1 "
        "as well (development only)"
    )
# Limits of one terminal; each refusal is written into the terminal.
LAB_TERMINAL_MAX_FRAME_BYTES = env_int("LAB_TERMINAL_MAX_FRAME_BYTES", 64 * 1024)
LAB_TERMINAL_INPUT_RATE = env_int("LAB_TERMINAL_INPUT_RATE", 16 * 1024)  # bytes per second
LAB_TERMINAL_INPUT_BURST = env_int("LAB_TERMINAL_INPUT_BURST", 128 * 1024)  # bytes at once
LAB_TERMINAL_MAX_PER_TRAINEE = env_int("LAB_TERMINAL_MAX_PER_TRAINEE", 3)
LAB_TERMINAL_IDLE_SECONDS = env_int("LAB_TERMINAL_IDLE_SECONDS", 30 * 60)
LAB_TERMINAL_IDLE_WARNING_SECONDS = env_int("LAB_TERMINAL_IDLE_WARNING_SECONDS", 60)
# How long a shell outlives its last socket, and how much output a reconnect can replay.
LAB_TERMINAL_GRACE_SECONDS = env_int("LAB_TERMINAL_GRACE_SECONDS", 5 * 60)
LAB_TERMINAL_REPLAY_BYTES = env_int("LAB_TERMINAL_REPLAY_BYTES", 256 * 1024)
# Terminal activity (for the dashboard) is written to the cache at most this often per terminal.
LAB_TERMINAL_ACTIVITY_SECONDS = env_int("LAB_TERMINAL_ACTIVITY_SECONDS", 5)
# Live checks (docs/checks.md). The watcher keeps watches on the labs of running cohorts and
# judges a lab this long after the last change in it.
CHECK_DEBOUNCE_MS = env_int("CHECK_DEBOUNCE_MS", 100)
# How often the watcher looks for new labs, opened exercises and changed checks.
CHECK_WATCHER_POLL_SECONDS = env_int("CHECK_WATCHER_POLL_SECONDS", 2)
# Development runs the watcher inside the ASGI process: the in-memory channel layer reaches
# no other process. Production runs `manage.py watch_checks` beside the web processes.
CHECK_WATCHER_IN_PROCESS = env_bool("CHECK_WATCHER_IN_PROCESS", DEBUG and not REDIS_URL)
# "Check now" answers 429 when a trainee asks again for the same task sooner than this.
CHECK_NOW_INTERVAL_SECONDS = env_int("CHECK_NOW_INTERVAL_SECONDS", 3)

# The instructor's dashboard (docs/dashboard.md) and speaker view (docs/present.md) count a
# trainee as stuck when a task of theirs fails (or errs) and they have not typed in their
# terminal for this many minutes.
STUCK_AFTER_MINUTES = env_int("STUCK_AFTER_MINUTES", 5)

# Invites: a signed link per enrolment, valid for this many days.
INVITE_MAX_AGE_DAYS = env_int("INVITE_MAX_AGE_DAYS", 14)

# E-mail: printed to the console in development, SMTP otherwise.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Lotse <lotse@localhost>")
# Absolute links in e-mails (invites, password resets) are built from this origin.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000" if DEBUG else "")
if not SITE_URL:
    raise ImproperlyConfigured(
        "SITE_URL (e.g. https://lotse.example.com) is required when DEBUG is off"
    )

# Production hardening; `manage.py check --deploy` is clean with DEBUG off.
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("USE_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    if SECRET_KEY == _DEV_SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must not be the development key when DEBUG is off")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Django's default config gives the "django" logger a console handler of its own; clearing
    # it leaves one handler (root's) so that no line is printed twice.
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # django-axes narrates every failed login at INFO; its warnings name the failures.
        "axes": {"level": "WARNING"},
    },
}
