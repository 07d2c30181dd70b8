from django.apps import AppConfig


class TuningConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tuning"
    verbose_name = "Model tuning"
