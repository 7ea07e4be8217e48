"""Settings, all from the environment, with development defaults.

DEBUG            "1"/"0" (default 1). With DEBUG off, SECRET_KEY and ALLOWED_HOSTS are required.
SECRET_KEY       required in production. Without it (DEBUG on) the site uses a public development key,
                 which lets anyone forge sessions and turn panel URLs back into samples: it then
                 refuses to start when ALLOWED_HOSTS names anything but this machine (127.0.0.1,
                 localhost, ::1) or `runserver` is to listen on another address, and answers
                 requests from this machine only.
ALLOWED_HOSTS    comma-separated host names (default: 127.0.0.1,localhost).
DATABASE_URL     e.g. postgres://user:pass@127.0.0.1:5432/name (default: SQLite in the data folder).
DATA_DIR         where the database, the training store, panels, runs and reports live (default: ./data).

Security (defaults for production, that is with DEBUG off; with DEBUG on they are off):
SECURE_SSL_REDIRECT             "1"/"0" (default 1): redirect http:// to https://.
SECURE_HSTS_SECONDS             Strict-Transport-Security max-age (default 31536000, one year).
SECURE_HSTS_INCLUDE_SUBDOMAINS  "1"/"0" (default 1).
SECURE_HSTS_PRELOAD             "1"/"0" (default 0): only once the domain is to be on browsers' preload lists.
SESSION_COOKIE_SECURE, CSRF_COOKIE_SECURE  "1"/"0" (default 1): cookies only over HTTPS (0 only for local
                                plain-HTTP runs such as `make loadtest`).
SECURE_PROXY_SSL_HEADER         behind a TLS-terminating proxy, "HEADER,value", e.g. "HTTP_X_FORWARDED_PROTO,https".
CSRF_TRUSTED_ORIGINS            comma-separated origins, e.g. https://study.example.org (default: none).
LOGIN_FAILURE_LIMIT             failed sign-ins per pair of user name and client address before refusal
                                (default 5). No count is kept per user name alone, so that nobody can lock
                                out a participant by guessing from elsewhere.
LOGIN_ADDRESS_FAILURE_LIMIT     failed sign-ins from one client address, whatever the user names (default 20).
LOGIN_FAILURE_WINDOW_MINUTES    the window those failures are counted in (default 15). The attempt beyond a
                                limit locks the pair or address out until the oldest failure leaves the
                                window; each further lock-out within a day lasts twice as long (at most a
                                day). Attempts are reserved before the password is checked, so parallel
                                requests get no more checks than the limit (see site_machinery.security).
CLIENT_ADDRESS_HEADER           behind a reverse proxy, the header it passes the client's address in: "X-Forwarded-For"
                                or "X-Real-IP" (default: none; the client is the connection's peer). Believed
                                only from TRUSTED_PROXIES (see site_machinery.addresses).
                                scripts/serve-production sets both for gunicorn behind its nginx; in its
                                environment they describe the proxies in front of that nginx, which reads
                                the address from them.
TRUSTED_PROXIES                 comma-separated addresses or networks of the proxies allowed to set that
                                header, e.g. "10.0.0.5,192.168.1.0/24"; "unix" for a proxy on a unix socket.
                                Required with CLIENT_ADDRESS_HEADER.
                                Per-address limits count IPv6 clients by their /64 network.
SESSION_READS_IN_FLIGHT         requests (GET, HEAD, OPTIONS) of one session served at once, across all server
                                processes and threads (default 8; a browser opens at most 6 connections to
                                a site). More are answered 429 with Retry-After (see site_machinery.floods).
SESSION_WRITES_IN_FLIGHT        other requests (answers, forms) of one session at once (default 4).
PROXY_REQUESTS_IN_FLIGHT_PER_ADDRESS   scripts/serve-production's nginx: requests of one client address
                                (IPv6: /64) being answered at once (default 64; beyond it 429).
PROXY_REQUESTS_PER_SECOND_PER_ADDRESS  requests per second of one address (default 50); a burst of four
                                seconds' worth is let through or queued in nginx, beyond it 429.
PROXY_REQUESTS_PER_SECOND_PER_SESSION  requests per second of one session cookie (default 10), with the same
                                burst: one participant's script cannot take an address's whole rate.
PROXY_SIGN_INS_PER_MINUTE_PER_ADDRESS  sign-in attempts (POSTs to the sign-in pages) per minute of one address
                                (default 60: each checks a password, a deliberately slow hash of about
                                0.3 s of a core); a minute's worth waits in nginx's queue, beyond it 429.
                                A classroom behind one address (NAT) needs these high enough for all of it.

Logging (see README, "Running it for a real study"):
LOG_LEVEL                       the least severe records written (default WARNING): failed requests
                                (django.request), warnings and errors of every module, to stderr.
LOG_FILE                        also append them to this file (reopened when log rotation moves it).
ADMINS                          comma-separated addresses mailed every server error (500), e.g.
                                "Ann Lead <ann@lab.example.org>, ops@lab.example.org" (default: none).
SERVER_EMAIL                    the sender of those mails (default root@localhost).
EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS  the SMTP server that sends them
                                (default localhost:25).
CACHE_BACKEND                   "locmem" or "database" (default: database with DEBUG off, else locmem).
                                Throttling counts in the cache: several server processes need the shared
                                database cache, whose table `manage.py createcachetable` makes (run it
                                after `migrate`).
"""

import email.utils
import ipaddress
import os
import re
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: expected 1/0, true/false, yes/no or on/off")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected a whole number") from None


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def runserver_address(argv: list[str]) -> str | None:
    """The address ``manage.py runserver [ADDRPORT]`` is about to listen on; None for other commands."""
    if argv[1:2] != ["runserver"]:
        return None
    from django.core.management.commands import runserver

    options, _ = runserver.Command().create_parser(argv[0], "runserver").parse_known_args(argv[2:])
    match = re.match(runserver.naiveip_re, options.addrport or "")
    address = match["addr"] if match and match["addr"] else ("::1" if options.use_ipv6 else "127.0.0.1")
    return "0.0.0.0" if address == "0" else address


DEBUG = env_bool("DEBUG", True)

# Public (it is in this file): only ever for a site that nobody but this machine can reach.
DEVELOPMENT_SECRET_KEY = "development-only-key-never-use-in-production-0123456789abcdef"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in the environment when DEBUG is off (50 or more random characters)"
        )
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
USES_DEVELOPMENT_KEY = SECRET_KEY == DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")
if USES_DEVELOPMENT_KEY:
    exposed = [host for host in ALLOWED_HOSTS if not is_loopback_host(host)]
    listening = runserver_address(sys.argv)
    if listening is not None and not is_loopback_host(listening):
        exposed.append(f"runserver on {listening}")
    if exposed:
        raise ImproperlyConfigured(
            f"The public development SECRET_KEY is in use, and {', '.join(exposed)} would let other machines "
            "reach the site: set SECRET_KEY (50 or more random characters) to serve it beyond 127.0.0.1"
        )

DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data")).resolve()
STORE_DIR = DATA_DIR / "store"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "study",
    "annotator",
    "models_zoo",
    "analysis",
    "config",
]

MIDDLEWARE = [
    # With the public development key, requests from other machines are refused before anything else.
    *(["site_machinery.security.LoopbackOnlyMiddleware"] if USES_DEVELOPMENT_KEY else []),
    "django.middleware.security.SecurityMiddleware",
    # Serves the collected static files from gunicorn itself, so production needs no other server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "site_machinery.security.SecurityHeadersMiddleware",
    # Before anything that reads the session or the database: a refusal costs a cookie lookup.
    "site_machinery.floods.SessionFloodMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'study.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        # A persistent connection the server has closed (a restart, a cut) is replaced before a
        # request uses it, instead of failing that request.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Several processes (the site, an import, a training run) share the file: wait rather than fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    # A transaction takes the write lock when it begins, waiting for it up to the timeout. Begun
    # deferred, one that read first and then writes fails at once with "database is locked" when
    # another writer is active (SQLite cannot wait there without risking a deadlock), which the
    # database cache's writes, among others, then drop without a word.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise warns about a missing folder; collectstatic fills it for production.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    # Preloading commits the whole domain, other sites on it included, to HTTPS for months:
    # the owner's decision, which `check --deploy` should not nag about once it is made.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    header, _, value = os.environ["SECURE_PROXY_SSL_HEADER"].partition(",")
    if not header.strip() or not value.strip():
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER={os.environ['SECURE_PROXY_SSL_HEADER']!r}: expected HEADER,value, "
            "e.g. HTTP_X_FORWARDED_PROTO,https"
        )
    SECURE_PROXY_SSL_HEADER = (header.strip(), value.strip())

# Passwords stay hidden on the DEBUG error page too (see site_machinery.security).
DEFAULT_EXCEPTION_REPORTER_FILTER = "site_machinery.security.SensitiveDataFilter"

AUTHENTICATION_BACKENDS = [
    # Checks every password, throttled, and never lets a rejected one reach the next backend.
    "site_machinery.security.ThrottledModelBackend",
    # Only restores sessions signed in through it (force_login, an accepted invitation).
    "django.contrib.auth.backends.ModelBackend",
]
if os.environ.get("LOGIN_CLIENT_ADDRESS_HEADER"):
    raise ImproperlyConfigured(
        "LOGIN_CLIENT_ADDRESS_HEADER is replaced by CLIENT_ADDRESS_HEADER (X-Forwarded-For or X-Real-IP), "
        "believed only from TRUSTED_PROXIES: set those instead"
    )
CLIENT_ADDRESS_HEADERS = ("X-Forwarded-For", "X-Real-IP")
CLIENT_ADDRESS_HEADER = os.environ.get("CLIENT_ADDRESS_HEADER", "").strip()
if CLIENT_ADDRESS_HEADER and CLIENT_ADDRESS_HEADER.lower() not in [h.lower() for h in CLIENT_ADDRESS_HEADERS]:
    raise ImproperlyConfigured(
        f"CLIENT_ADDRESS_HEADER={CLIENT_ADDRESS_HEADER!r}: expected one of {', '.join(CLIENT_ADDRESS_HEADERS)}"
    )
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")
for proxy in TRUSTED_PROXIES:
    if proxy != "unix":
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {proxy!r} is neither an address, a network (e.g. 10.0.0.0/8) nor 'unix'"
            ) from None
if CLIENT_ADDRESS_HEADER and not TRUSTED_PROXIES:
    raise ImproperlyConfigured(
        f"CLIENT_ADDRESS_HEADER={CLIENT_ADDRESS_HEADER} needs TRUSTED_PROXIES, the proxies allowed to set it"
    )
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20)
LOGIN_FAILURE_WINDOW_MINUTES = env_int("LOGIN_FAILURE_WINDOW_MINUTES", 15)

CACHE_BACKENDS = {
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Past MAX_ENTRIES the database cache deletes a third of its entries: the throttle's counts must
    # not be among them, so the limit is far above what sign-ins fill in a day.
    "database": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "study_cache",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    },
}
CACHE_BACKEND = os.environ.get("CACHE_BACKEND") or ("locmem" if DEBUG else "database")
if CACHE_BACKEND not in CACHE_BACKENDS:
    raise ImproperlyConfigured(f"CACHE_BACKEND={CACHE_BACKEND!r}: expected one of {', '.join(CACHE_BACKENDS)}")
CACHES = {"default": CACHE_BACKENDS[CACHE_BACKEND]}

# Where an assisted study's suggestions come from (annotator.assistance.SuggestionSource).
ASSISTANCE_SUGGESTION_SOURCE = "config.suggestions.ModelRunSuggestions"

SESSION_READS_IN_FLIGHT = env_int("SESSION_READS_IN_FLIGHT", 8)
SESSION_WRITES_IN_FLIGHT = env_int("SESSION_WRITES_IN_FLIGHT", 4)
PROXY_REQUESTS_IN_FLIGHT_PER_ADDRESS = env_int("PROXY_REQUESTS_IN_FLIGHT_PER_ADDRESS", 64)
PROXY_REQUESTS_PER_SECOND_PER_ADDRESS = env_int("PROXY_REQUESTS_PER_SECOND_PER_ADDRESS", 50)
PROXY_REQUESTS_PER_SECOND_PER_SESSION = env_int("PROXY_REQUESTS_PER_SECOND_PER_SESSION", 10)
PROXY_SIGN_INS_PER_MINUTE_PER_ADDRESS = env_int("PROXY_SIGN_INS_PER_MINUTE_PER_ADDRESS", 60)
for name in (
    "SESSION_READS_IN_FLIGHT", "SESSION_WRITES_IN_FLIGHT", "PROXY_REQUESTS_IN_FLIGHT_PER_ADDRESS",
    "PROXY_REQUESTS_PER_SECOND_PER_ADDRESS", "PROXY_REQUESTS_PER_SECOND_PER_SESSION", "PROXY_SIGN_INS_PER_MINUTE_PER_ADDRESS",
):
    if globals()[name] < 1:
        raise ImproperlyConfigured(f"{name}={globals()[name]}: expected 1 or more")
for name in ("SESSION_READS_IN_FLIGHT", "SESSION_WRITES_IN_FLIGHT"):
    # site_machinery.floods keeps room for 128 of each kind per session.
    if globals()[name] > 128:
        raise ImproperlyConfigured(f"{name}={globals()[name]}: expected at most 128")

# The site takes no uploads: a request body beyond this is refused (by nginx before it reaches
# Django, under scripts/serve-production), and nothing a client sends is ever written to disk.
MAX_REQUEST_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FILES = 0
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]

ADMINS = [(name or address, address) for name, address in email.utils.getaddresses([os.environ.get("ADMINS", "")]) if address]
for _, address in ADMINS:
    if "@" not in address:
        raise ImproperlyConfigured(f"ADMINS: {address!r} is not an e-mail address")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL") or "root@localhost"
EMAIL_HOST = os.environ.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)

LOG_LEVEL = (os.environ.get("LOG_LEVEL") or "WARNING").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
LOG_FILE = os.environ.get("LOG_FILE", "")
if LOG_FILE and not Path(LOG_FILE).parent.is_dir():
    raise ImproperlyConfigured(f"LOG_FILE={LOG_FILE!r}: its folder does not exist")
# Django's own default sends failed requests nowhere when DEBUG is off and ADMINS is empty: here
# every module's warnings and errors, failed requests (django.request) among them, go to stderr
# (which gunicorn and scripts/serve-production keep), to LOG_FILE when set, and errors to ADMINS.
LOG_HANDLERS = ["stderr", *(["file"] if LOG_FILE else []), *(["mail_admins"] if ADMINS else [])]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "formatters": {
        "plain": {"format": "{asctime} {levelname} {name} [{process}] {message}", "style": "{"},
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "level": LOG_LEVEL},
        **({"file": {
            "class": "logging.handlers.WatchedFileHandler", "filename": LOG_FILE, "formatter": "plain", "level": LOG_LEVEL,
        }} if LOG_FILE else {}),
        **({"mail_admins": {
            "class": "django.utils.log.AdminEmailHandler", "level": "ERROR", "filters": ["require_debug_false"],
        }} if ADMINS else {}),
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server", "level": "INFO"},
    },
    "root": {"handlers": LOG_HANDLERS, "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # runserver's line per request, as Django has it by default.
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
