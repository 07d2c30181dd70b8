from django.apps import AppConfig


class QuizbankConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "quizbank"
    verbose_name = "Question bank"

    def ready(self) -> None:
        from quizbank import receivers  # noqa: F401 - connects the signal receivers
