from django.contrib import admin

from inference.models import EvalRun, EvalSuite


@admin.register(EvalSuite)
class EvalSuiteAdmin(admin.ModelAdmin):
    """Suites: new versions are scored on the active ones; a scored revision's items never change."""

    list_display = ["name", "revision", "kind", "selector", "is_active", "frozen_at", "created_at"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["name", "revision", "kind", "selector", "items_hash", "frozen_at", "created_at"]


@admin.register(EvalRun)
class EvalRunAdmin(admin.ModelAdmin):
    list_display = ["version", "suite", "status", "engine", "answered_by", "finished_at"]
    list_filter = ["status", "engine"]
    readonly_fields = [
        "suite",
        "version",
        "status",
        "engine",
        "answered_by",
        "metrics",
        "error",
        "started_at",
        "finished_at",
    ]
