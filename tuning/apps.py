from django.apps import AppConfig


class TuningConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tuning"
    verbose_name = "Model tuning"

    def ready(self) -> None:
        from tuning import worker_signals  # noqa: F401  (connects the tuning workers' reports)
