from django.contrib import admin

from tuning.models import ModelVersion, RunEvent, TuningRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "method", "state", "is_active", "created_at", "path"]
    list_filter = ["state", "method"]


class RunEventInline(admin.TabularInline):
    model = RunEvent
    extra = 0
    readonly_fields = ["level", "message", "data", "created_at"]


@admin.register(TuningRun)
class TuningRunAdmin(admin.ModelAdmin):
    list_display = ["id", "method", "stage", "status", "progress", "base_version", "output_version", "created_at"]
    list_filter = ["status", "method"]
    inlines = [RunEventInline]
