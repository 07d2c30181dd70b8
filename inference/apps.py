from django.apps import AppConfig


class InferenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inference"
    verbose_name = "Model serving and explanations"

    def ready(self) -> None:
        from core import health
        from inference import receivers  # noqa: F401 - connects the signal receivers
        from inference.health import model_health

        health.register("model", model_health)

        from inference.evaluation.gate import compare
        from tuning import gates

        gates.register("evaluation-suites", compare)
