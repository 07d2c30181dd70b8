"""Settings, all read from the environment (or a `.env` file at the repository root).

Every variable has an embedded default so a fresh clone runs with no server at all:
SQLite under var/, Celery on a SQLite-backed broker under var/, models under var/models.
"""

import os
from pathlib import Path

import environ

from quizsite.env import read_secret_key, url_list

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)
(VAR_DIR / "static").mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = read_secret_key(env, VAR_DIR, debug=DEBUG)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    "quizbank",
    "tuning",
    "inference",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "quizsite.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "quizsite.urls"
WSGI_APPLICATION = "quizsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "quizsite" / "templates"],
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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

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
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "quizsite.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {"TITLE": "quizsite API", "VERSION": "1", "SERVE_INCLUDE_SCHEMA": False}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"tuning.run_tuning": {"queue": "tuning"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Models and serving -------------------------------------------------------------------
MODEL_ROOT = Path(env.str("MODEL_ROOT", default=str(VAR_DIR / "models")))
# A real checkpoint (e.g. DeepSeek-R1-Distill-Qwen-1.5B on disk) replaces the tiny bootstrap model.
BASE_MODEL_PATH = env.str("BASE_MODEL_PATH", default="")
INFERENCE_URLS = url_list(env.list("INFERENCE_URLS", default=["http://127.0.0.1:8100"]))
INFERENCE_MODEL_NAME = env.str("INFERENCE_MODEL_NAME", default="quizsite")
INFERENCE_TIMEOUT = env.float("INFERENCE_TIMEOUT", default=60.0)
INFERENCE_RETRIES = env.int("INFERENCE_RETRIES", default=2)
INFERENCE_MAX_TOKENS = env.int("INFERENCE_MAX_TOKENS", default=256)
# Grade ungraded answers and explain the bank with a newly promoted version automatically (queued tasks).
MODEL_TASKS_ON_EVENTS = env.bool("MODEL_TASKS_ON_EVENTS", default=True)
# The model grader: output budget, the confidence below which a teacher reviews, teacher-graded examples.
GRADING_MAX_TOKENS = env.int("GRADING_MAX_TOKENS", default=1024)
GRADING_MIN_CONFIDENCE = env.float("GRADING_MIN_CONFIDENCE", default=0.6)
GRADING_EXAMPLES = env.int("GRADING_EXAMPLES", default=3)
VLLM_PORT = env.int("VLLM_PORT", default=8100)
VLLM_HOST = env.str("VLLM_HOST", default="127.0.0.1")
VLLM_DEVICE = env.str("VLLM_DEVICE", default="auto")  # auto | cpu | cuda
VLLM_MAX_MODEL_LEN = env.int("VLLM_MAX_MODEL_LEN", default=1024)
VLLM_GPU_MEMORY_UTILIZATION = env.float("VLLM_GPU_MEMORY_UTILIZATION", default=0.85)
VLLM_TENSOR_PARALLEL_SIZE = env.int("VLLM_TENSOR_PARALLEL_SIZE", default=1)
VLLM_CPU_KVCACHE_GIB = env.int("VLLM_CPU_KVCACHE_GIB", default=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Question-bank imports ----------------------------------------------------------------
IMPORT_ROOT = Path(env.str("IMPORT_ROOT", default=str(VAR_DIR / "imports")))
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Tuning runs ----------------------------------------------------------------------------
TUNING_STALE_SECONDS = env.int("TUNING_STALE_SECONDS", default=300)  # no heartbeat this long: worker lost
TUNING_MAX_ATTEMPTS = env.int("TUNING_MAX_ATTEMPTS", default=3)
# Scheduled retraining: continue the active version once this many new questions have arrived.
TUNING_RETRAIN_MIN_NEW_QUESTIONS = env.int("TUNING_RETRAIN_MIN_NEW_QUESTIONS", default=200)
TUNING_RETRAIN_EVERY_SECONDS = env.int("TUNING_RETRAIN_EVERY_SECONDS", default=6 * 3600)
CELERY_BEAT_SCHEDULE = {
    "tuning-recover-stale-runs": {"task": "tuning.recover_stale_runs", "schedule": 60.0},
    "tuning-retrain-if-due": {"task": "tuning.retrain_if_due", "schedule": float(TUNING_RETRAIN_EVERY_SECONDS)},
}

# --- Exams ----------------------------------------------------------------------------------
# 错题本: an entry is mastered after this many right answers in a row in practice.
WRONG_BOOK_MASTERED_AFTER = env.int("WRONG_BOOK_MASTERED_AFTER", default=2)
SESSION_SWEEP_EVERY_SECONDS = env.float("SESSION_SWEEP_EVERY_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE["quizbank-sweep-sessions"] = {
    "task": "quizbank.sweep_sessions",
    "schedule": SESSION_SWEEP_EVERY_SECONDS,
}
