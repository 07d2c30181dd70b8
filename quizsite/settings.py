"""Settings, all read from the environment (or a `.env` file at the repository root).

Every variable has an embedded default so a fresh clone runs with no server at all:
SQLite under var/, Celery on a SQLite-backed broker under var/, models under var/models.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from core.env import one_of, read_secret_key, url_list

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)
(VAR_DIR / "static").mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# local: the fresh-machine site over plain http on 127.0.0.1. production: served over https behind a
# proxy; SECRET_KEY and ALLOWED_HOSTS must be given, and the https-only settings below default to on.
DJANGO_ENV = one_of("DJANGO_ENV", env.str("DJANGO_ENV", default="local"), ("local", "production"))
PRODUCTION = DJANGO_ENV == "production"
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when DJANGO_ENV=production")
SECRET_KEY = read_secret_key(env, VAR_DIR, debug=DEBUG, required=PRODUCTION)
ALLOWED_HOSTS = (
    env.list("ALLOWED_HOSTS")
    if PRODUCTION
    else env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Security (https) -----------------------------------------------------------------------
# Off by default locally: a secure cookie is never sent back over http://127.0.0.1, so login would fail.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]  # a load balancer's probe over plain http gets its answer
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
# The TLS-terminating proxy in front of gunicorn sets X-Forwarded-Proto: trust it only behind one,
# or every request looks like http and SECURE_SSL_REDIRECT loops.
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=PRODUCTION)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Proxies in front of gunicorn that each append the client's address to X-Forwarded-For (nginx:
# `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`). Sign-in and rate limits count by the
# address the outermost one saw; 0: REMOTE_ADDR. Behind a proxy REMOTE_ADDR is the proxy's, shared by all.
FORWARDED_FOR_PROXIES = env.int("FORWARDED_FOR_PROXIES", default=1 if BEHIND_TLS_PROXY else 0)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_celery_beat",
    "core",
    "quizbank",
    "tuning",
    "inference",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.logging.RequestIdMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "quizbank.middleware.FirstPasswordMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "quizsite.urls"
WSGI_APPLICATION = "quizsite.wsgi.application"

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'quizsite.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# A kept connection is checked before each request uses it, so after a database restart or failover no
# request fails on a connection the restart broke (only with CONN_MAX_AGE > 0: one SELECT 1 a request).
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))
# DATABASE_POOLER=pgbouncer: PgBouncer in transaction mode (docs/deploy.md) hands each transaction to any of
# its server connections, so a server-side cursor (`.iterator()`) opened in one could be gone in the next.
# Kept connections (CONN_MAX_AGE) are kept to PgBouncer, which is cheap; it holds PostgreSQL's itself.
DATABASE_POOLER = one_of("DATABASE_POOLER", env.str("DATABASE_POOLER", default="none"), ("none", "pgbouncer"))
if DATABASE_POOLER == "pgbouncer":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The web server, the worker and management commands share one SQLite file.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    # Tests on SQLite use a file too: an in-memory test database is one connection shared by every
    # thread, so the live server's threads and concurrent-save tests could not write side by side.
    # One file per test run, so two runs side by side do not share it.
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", str(VAR_DIR / f"test-quizsite-{os.getpid()}.sqlite3")
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's hashers, and the one for the one-time passwords of a class import (quizbank/hashers.py): a
# password a user chooses is always hashed with the first.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "quizbank.hashers.OneTimePasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Sign-in --------------------------------------------------------------------------------
# Password guessing (core/signin.py): past SIGNIN_LIMIT_PER_USER failures of one username from one
# address, or SIGNIN_LIMIT_PER_ADDRESS failures from one address (a class behind one school address),
# sign-ins from there are refused (429) until SIGNIN_WINDOW_SECONDS after the first. Addresses: see
# FORWARDED_FOR_PROXIES.
AUTHENTICATION_BACKENDS = ["core.signin.LimitedModelBackend"]
SIGNIN_LIMIT_PER_USER = env.int("SIGNIN_LIMIT_PER_USER", default=5)
SIGNIN_LIMIT_PER_ADDRESS = env.int("SIGNIN_LIMIT_PER_ADDRESS", default=50)
SIGNIN_WINDOW_SECONDS = env.int("SIGNIN_WINDOW_SECONDS", default=15 * 60)
# API tokens expire this long after they are issued (asking again issues a new one): a school day.
API_TOKEN_TTL = env.int("API_TOKEN_TTL", default=12 * 3600)
# Seconds a process accepts a token it checked without reading it again (core/tokens.py); 0: every request.
API_TOKEN_CACHE_SECONDS = env.int("API_TOKEN_CACHE_SECONDS", default=10)
# Shared lab computers: a sign-in ends when the browser closes, and at the latest SESSION_COOKIE_AGE after
# the session last changed (the sign-in; it is not saved on every request). 8 hours covers a school day,
# so an exam in progress is not signed out.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Front-end files fetched by `make install` from the npm registry (KaTeX for the LaTeX in real banks).
STATICFILES_DIRS = [VAR_DIR / "vendor"]
(VAR_DIR / "vendor").mkdir(exist_ok=True)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "exam-index"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "core.tokens.ExpiringTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {"TITLE": "quizsite API", "VERSION": "1", "SERVE_INCLUDE_SCHEMA": False}

# --- Cache and rate limits ----------------------------------------------------------------
# Per process by default; several web processes or machines share counts through Redis,
# e.g. CACHE_URL=redis://127.0.0.1:6379/1 (not the broker's database).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# Requests per user to the endpoints that call the model or start GPU work (core/throttling.py),
# as scope=count/period (s, m, h, d), e.g. THROTTLE_RATES=explain=10/min,tuning=5/h. Exam saves have none.
# wrong_book_practice: new practice papers of one's wrong answers; attempt: new attempts at papers that allow
# any number (their essays are graded by the model).
THROTTLE_RATES = {"explain": "30/min", "tuning": "10/min", "wrong_book_practice": "10/h", "attempt": "30/h"}
THROTTLE_RATES.update(env.dict("THROTTLE_RATES", default={}))

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = "celery"
# One queue per kind of work: `celery` (imports, sweepers) on any host, `tuning` on GPU hosts,
# `inference` (grading, explanations) near the model servers. One machine consumes all three.
CELERY_TASK_ROUTES = {
    "tuning.run_tuning": {"queue": "tuning"},
    # a new version's evaluation loads it in process: on the GPU host, like its training
    "inference.evaluate_version": {"queue": "tuning"},
    "inference.score_version": {"queue": "tuning"},
    "inference.*": {"queue": "inference"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request that queues a task (a submission queues its grading) must not wait long on a broker that
# is down, nor forever on one gone without closing the connection (a dead host, a failover): connects,
# replies and publish retries are bounded (a few seconds); what could not be queued is queued again by
# the sweepers.
BROKER_TIMEOUT = env.float("BROKER_TIMEOUT", default=3.0)
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_TIMEOUT
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # socket_timeout above the 1 s a worker's BRPOP waits for a message
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": BROKER_TIMEOUT, "socket_timeout": BROKER_TIMEOUT}

# --- Models and serving -------------------------------------------------------------------
MODEL_ROOT = Path(env.str("MODEL_ROOT", default=str(VAR_DIR / "models")))
# A real checkpoint (e.g. DeepSeek-R1-Distill-Qwen-1.5B on disk) replaces the tiny bootstrap model.
BASE_MODEL_PATH = env.str("BASE_MODEL_PATH", default="")
INFERENCE_URLS = url_list(env.list("INFERENCE_URLS", default=["http://127.0.0.1:8100"]))
INFERENCE_MODEL_NAME = env.str("INFERENCE_MODEL_NAME", default="quizsite")
# vllm: the HTTP servers above; transformers: the model in this process (no vLLM on the machine).
INFERENCE_BACKEND = one_of("INFERENCE_BACKEND", env.str("INFERENCE_BACKEND", default="vllm"), ("vllm", "transformers"))
# The in-process model's directory; empty: the active model version's.
INFERENCE_LOCAL_PATH = env.str("INFERENCE_LOCAL_PATH", default="")
INFERENCE_TIMEOUT = env.float("INFERENCE_TIMEOUT", default=60.0)
INFERENCE_RETRIES = env.int("INFERENCE_RETRIES", default=2)
INFERENCE_MAX_TOKENS = env.int("INFERENCE_MAX_TOKENS", default=256)
# A streamed explanation of a wrong answer runs at least this many tokens (0: the model ends it when it
# is done). Benchmarks set it to INFERENCE_MAX_TOKENS, so every reply has the same length.
EXPLAIN_MIN_TOKENS = env.int("EXPLAIN_MIN_TOKENS", default=0)
# Grade ungraded answers and explain the bank with a newly promoted version automatically (queued tasks).
MODEL_TASKS_ON_EVENTS = env.bool("MODEL_TASKS_ON_EVENTS", default=True)
# The model grader: output budget, the confidence below which a teacher reviews, teacher-graded examples.
GRADING_MAX_TOKENS = env.int("GRADING_MAX_TOKENS", default=1024)
GRADING_MIN_CONFIDENCE = env.float("GRADING_MIN_CONFIDENCE", default=0.6)
GRADING_EXAMPLES = env.int("GRADING_EXAMPLES", default=3)
# Evaluation suites: the longest answer and 解析 generated per item, requests sent together, and the
# significance level at which the promotion gate refuses a regression (McNemar, paired bootstrap).
EVALUATION_MAX_TOKENS = env.int("EVALUATION_MAX_TOKENS", default=192)
EVALUATION_CONCURRENCY = env.int("EVALUATION_CONCURRENCY", default=8)
PROMOTION_ALPHA = env.float("PROMOTION_ALPHA", default=0.05)
VLLM_PORT = env.int("VLLM_PORT", default=8100)
VLLM_HOST = env.str("VLLM_HOST", default="127.0.0.1")
# The model servers' API key: vLLM refuses a request without `Authorization: Bearer <key>`, and the app's
# client and serve_model's own calls send it. Required in production (the same on every host that serves
# or calls the models); empty in local development: a random key kept in var/vllm-api-key.
VLLM_API_KEY = env.str("VLLM_API_KEY", default="")
VLLM_DEVICE = env.str("VLLM_DEVICE", default="auto")  # auto | cpu | cuda
VLLM_MAX_MODEL_LEN = env.int("VLLM_MAX_MODEL_LEN", default=1024)
VLLM_GPU_MEMORY_UTILIZATION = env.float("VLLM_GPU_MEMORY_UTILIZATION", default=0.85)
VLLM_TENSOR_PARALLEL_SIZE = env.int("VLLM_TENSOR_PARALLEL_SIZE", default=1)
VLLM_CPU_KVCACHE_GIB = env.int("VLLM_CPU_KVCACHE_GIB", default=1)
# serve_model keeps the active version served: a LoRA version over the served base is hot-loaded
# (SERVING_LORA: the base is served with LoRA enabled), any other is started beside the old server,
# which is stopped once idle. A GPU with memory use over 0.5 cannot hold both: stop, then start.
SERVING_LORA = env.bool("SERVING_LORA", default=False)
VLLM_MAX_LORAS = env.int("VLLM_MAX_LORAS", default=4)
VLLM_MAX_LORA_RANK = env.int("VLLM_MAX_LORA_RANK", default=64)
SERVING_POLL_SECONDS = env.float("SERVING_POLL_SECONDS", default=2.0)
SERVING_START_TIMEOUT = env.float("SERVING_START_TIMEOUT", default=900.0)
SERVING_DRAIN_SECONDS = env.float("SERVING_DRAIN_SECONDS", default=300.0)
# Pending model grades are queued again this often (a lost task or a long outage never strands one).
GRADING_SWEEP_EVERY_SECONDS = env.float("GRADING_SWEEP_EVERY_SECONDS", default=300.0)
# A promoted version explains the bank once a model server serves it: until then its job comes back every
# EXPLAIN_RETRY_SECONDS, for EXPLAIN_WAIT_SECONDS at most. The sweep explains what the active version has
# not (failed, or new in the bank) every EXPLAIN_SWEEP_EVERY_SECONDS, when a server serves it.
EXPLAIN_RETRY_SECONDS = env.float("EXPLAIN_RETRY_SECONDS", default=10.0)
EXPLAIN_WAIT_SECONDS = env.float("EXPLAIN_WAIT_SECONDS", default=1800.0)
EXPLAIN_SWEEP_EVERY_SECONDS = env.float("EXPLAIN_SWEEP_EVERY_SECONDS", default=120.0)

# LOG_FORMAT=json: one JSON object a line (time, level, logger, message, request id) for a log collector.
LOG_FORMAT = one_of("LOG_FORMAT", env.str("LOG_FORMAT", default="text"), ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(message)s"},
        "json": {"()": "core.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
# Celery workers log through the handler above (its own format otherwise replaces ours).
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT == "text"

# --- Question-bank imports ----------------------------------------------------------------
IMPORT_ROOT = Path(env.str("IMPORT_ROOT", default=str(VAR_DIR / "imports")))
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Question images ------------------------------------------------------------------------
# Images in stems are stored through Django's storage API and served by the site (quizbank/editor_views.py,
# /media/question-images/<name>) to signed-in users, whatever the storage. MEDIA_STORAGE=local: files under
# MEDIA_ROOT; s3: an S3-compatible bucket (`pip install .[s3]`), S3_BUCKET required, S3_ENDPOINT_URL for
# MinIO and the like; credentials come from the environment as boto3 reads them (AWS_ACCESS_KEY_ID, ...).
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_STORAGE = one_of("MEDIA_STORAGE", env.str("MEDIA_STORAGE", default="local"), ("local", "s3"))
QUESTION_IMAGE_MAX_BYTES = env.int("QUESTION_IMAGE_MAX_BYTES", default=2 * 1024 * 1024)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if MEDIA_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("S3_BUCKET"),
            "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
            "region_name": env.str("S3_REGION", default=None),
            "location": env.str("S3_PREFIX", default=""),
            "default_acl": None,  # private: the site serves every image itself
            "file_overwrite": False,
        },
    }

# --- Tuning runs ----------------------------------------------------------------------------
TUNING_STALE_SECONDS = env.int("TUNING_STALE_SECONDS", default=300)  # no heartbeat this long: worker lost
TUNING_MAX_ATTEMPTS = env.int("TUNING_MAX_ATTEMPTS", default=3)
# Scheduled retraining: continue the active version once this many new questions, or this many new teacher
# grades, have arrived since it was made (0 switches that trigger off). The first values of the retraining
# task's schedule and kwargs: admins change them afterwards on the admin site (Periodic tasks).
TUNING_RETRAIN_MIN_NEW_QUESTIONS = env.int("TUNING_RETRAIN_MIN_NEW_QUESTIONS", default=200)
TUNING_RETRAIN_MIN_NEW_GRADES = env.int("TUNING_RETRAIN_MIN_NEW_GRADES", default=50)
TUNING_RETRAIN_EVERY_SECONDS = env.int("TUNING_RETRAIN_EVERY_SECONDS", default=6 * 3600)

# --- Periodic tasks (celery beat) -------------------------------------------------------------
# Beat reads its schedule from the database (django-celery-beat), where admins edit it. PERIODIC_TASKS is
# what a new installation starts with: `migrate` creates each task not in the database yet
# (core/periodic.py); one already there keeps its admin's schedule and kwargs. Not CELERY_BEAT_SCHEDULE:
# the database scheduler would write that over the admins' changes each time beat starts.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
PERIODIC_TASKS: dict[str, dict] = {
    "tuning-recover-stale-runs": {"task": "tuning.recover_stale_runs", "schedule": 60.0},
    "tuning-retrain-if-due": {
        "task": "tuning.retrain_if_due",
        "schedule": float(TUNING_RETRAIN_EVERY_SECONDS),
        "kwargs": {
            "min_new_questions": TUNING_RETRAIN_MIN_NEW_QUESTIONS,
            "min_new_grades": TUNING_RETRAIN_MIN_NEW_GRADES,
        },
        "description": "Retrain the active version when enough new questions (min_new_questions) or new "
        "teacher grades (min_new_grades) have arrived since it was made; 0 switches a trigger off.",
    },
    "inference-explain-missing": {
        "task": "inference.explain_missing",
        "schedule": EXPLAIN_SWEEP_EVERY_SECONDS,
        "description": "Explain what the active version has not explained yet, when a model server serves it.",
    },
}

# --- Exams ----------------------------------------------------------------------------------
# 错题本: an entry is mastered after this many right answers in a row in practice.
WRONG_BOOK_MASTERED_AFTER = env.int("WRONG_BOOK_MASTERED_AFTER", default=2)
SESSION_SWEEP_EVERY_SECONDS = env.float("SESSION_SWEEP_EVERY_SECONDS", default=30.0)
PERIODIC_TASKS["inference-grade-pending"] = {
    "task": "inference.grade_pending",
    "schedule": GRADING_SWEEP_EVERY_SECONDS,
}
PERIODIC_TASKS["quizbank-sweep-sessions"] = {
    "task": "quizbank.sweep_sessions",
    "schedule": SESSION_SWEEP_EVERY_SECONDS,
}
# Uploaded import files are deleted when their job ends; leftovers a day old go in this sweep.
PERIODIC_TASKS["quizbank-sweep-import-files"] = {"task": "quizbank.sweep_import_files", "schedule": 3600.0}
