from django.core.management.base import CommandError

from core.commands import ModelVersionCommand
from core.exceptions import ApplicationError
from tuning.models import ModelVersion
from tuning.services import version_accuracy, version_promote


class Command(ModelVersionCommand):
    help = (
        "Make a model version the active one (serve_model switches to it without dropping requests). Refused while it is "
        "not evaluated yet and when its held-out accuracy is below the active version's, unless --force; --force also "
        "rolls back to an earlier version. Without a name, list the versions with their state."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", nargs="?", default="", help="version name; without it, list the versions")
        parser.add_argument("--force", action="store_true")

    def handle(self, *args, version, force, **options):
        if not version:
            for item in ModelVersion.objects.order_by("created_at"):
                accuracy = version_accuracy(item)
                shown = f"{accuracy:.1%}" if accuracy is not None else "—"
                marker = "*" if item.is_active else " "
                self.stdout.write(
                    f"{marker} {item.name:<12} {item.method:<10} {item.state:<17} held-out accuracy {shown}"
                )
            return
        target = ModelVersion.objects.filter(name=version).first()
        if target is None:
            raise CommandError(f"no model version named {version!r}")
        try:
            version_promote(version=target, force=force)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        forced = "" if target.promotable else f" (forced: it is {target.get_state_display().lower()})"
        self.stdout.write(f"{target.name} is now the active version{forced}")
