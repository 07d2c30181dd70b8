from django.contrib import admin

from tuning.models import ModelVersion, PromotionLog, RunEvent, TuningRun


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


@admin.register(PromotionLog)
class PromotionLogAdmin(admin.ModelAdmin):
    """The audit log: read only (promotions go through `manage.py promote` or the tuning page)."""

    list_display = ["created_at", "action", "from_version", "to_version", "actor", "reason"]
    list_filter = ["action"]
    readonly_fields = ["action", "from_version", "to_version", "reason", "details", "actor", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
