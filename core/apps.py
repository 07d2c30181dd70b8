from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "core"
    verbose_name = "Core: errors, limits, sign-in, health"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save
        from rest_framework.authtoken.models import Token

        from core.periodic import install_after_migrate
        from core.tokens import token_forget

        post_delete.connect(token_forget, sender=Token, dispatch_uid="core-token-forget")
        post_save.connect(token_forget, sender=get_user_model(), dispatch_uid="core-token-forget-user")

        # once django-celery-beat's tables exist: the periodic tasks a new installation starts with
        post_migrate.connect(
            install_after_migrate, sender=apps.get_app_config("django_celery_beat"), dispatch_uid="core-periodic-tasks"
        )
