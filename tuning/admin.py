from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect

from core.exceptions import ApplicationError
from tuning.models import ComputeWorker, ModelVersion, PromotionLog, RunEvent, TuningRun
from tuning.registry import base_model_register


class BaseModelAddForm(forms.ModelForm):
    """Adding a version here registers a base checkpoint through the registry's checks."""

    class Meta:
        model = ModelVersion
        fields = ["name", "path", "config_only"]
        help_texts = {"path": "a Hugging Face-layout checkpoint directory (or, config only, its config.json)"}


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "method", "architecture", "parameters", "config_only", "state", "is_active", "created_at"]
    list_filter = ["state", "method", "config_only"]
    readonly_fields = ["architecture", "parameters", "spec", "config_only"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = BaseModelAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "path", "config_only"]})]
        return super().get_fieldsets(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        version = base_model_register(name=obj.name, path=obj.path, config_only=obj.config_only)
        obj.pk = version.pk
        obj.refresh_from_db()
        for note in version.spec.get("notes", []):
            messages.info(request, note)
        return None

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ApplicationError as exc:  # the registry's refusal, shown on the list it returns to
            messages.error(request, exc.message)
            return redirect(request.path)


@admin.register(ComputeWorker)
class ComputeWorkerAdmin(admin.ModelAdmin):
    """The tuning workers as they reported themselves (written by the workers only)."""

    list_display = ["name", "pool", "device_type", "device_name", "device_count", "memory_per_device_gb", "last_seen"]
    list_filter = ["pool", "device_type"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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
