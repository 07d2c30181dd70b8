from django.core.management.base import CommandError

from core.commands import ModelVersionCommand
from core.exceptions import ApplicationError
from tuning.models import ModelVersion
from tuning.services import version_promote


class Command(ModelVersionCommand):
    help = (
        "Make a model version the active one (serve_model switches to it without dropping requests). Refused while it is "
        "not evaluated yet, and when it is significantly worse than the active version on an evaluation suite (the "
        "refusal names the suite and the p-value), unless --force with a --reason; a promotion to an earlier version "
        "is a rollback. Every promotion, refusal and rollback goes into the audit log. Without a name, list the "
        "versions with their state and held-out accuracy."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", nargs="?", default="", help="version name; without it, list the versions")
        parser.add_argument("--force", action="store_true", help="override the checks (needs --reason)")
        parser.add_argument("--reason", default="", help="why the checks are overridden (kept in the audit log)")

    def handle(self, *args, version, force, reason, **options):
        if not version:
            for item in ModelVersion.objects.order_by("created_at"):
                heldout = (item.metrics.get("suites") or {}).get("bank-heldout") or {}
                accuracy = heldout.get("answer_accuracy")
                shown = f"{accuracy:.1%} of {heldout.get('n')}" if accuracy is not None else "—"
                marker = "*" if item.is_active else " "
                self.stdout.write(
                    f"{marker} {item.name:<12} {item.method:<10} {item.state:<17} held-out accuracy {shown}"
                )
            return
        target = ModelVersion.objects.filter(name=version).first()
        if target is None:
            raise CommandError(f"no model version named {version!r}")
        try:
            version_promote(version=target, force=force, reason=reason)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        forced = f" (forced: {reason})" if force else ""
        self.stdout.write(f"{target.name} is now the active version{forced}")
