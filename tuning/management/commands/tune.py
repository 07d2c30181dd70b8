import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.exceptions import ApplicationError
from tuning.admission import ESTIMATE_KEYS, estimate_request
from tuning.compute import DEFAULT_POOL, pool_queue
from tuning.models import ModelVersion, RunEvent, RunStatus, TuningRun
from tuning.services import BASE_VERSION_NAME, run_create, run_execute, run_resume


class Command(BaseCommand):
    help = "Fine-tune a model version on the bank. Queued for a `tuning` worker unless --inline."

    def add_arguments(self, parser):
        parser.add_argument(
            "--method", choices=["lora", "qlora", "freeze", "full"], default="lora", help="qlora: LoRA on a 4-bit base"
        )
        parser.add_argument("--stage", choices=["sft", "pt"], default="sft")
        parser.add_argument("--base", default="", help="model version to start from (default: the base model)")
        parser.add_argument("--subject", default="", help="train on this subject path only")
        parser.add_argument("--split", choices=["train", "all"], default="train")
        parser.add_argument(
            "--memorise", action="store_true", help="demo settings: train a tiny model until it reproduces its bank"
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override one setting, e.g. --set lora_rank=16 (JSON values)",
        )
        parser.add_argument("--promote", action="store_true", help="make the result the active version")
        parser.add_argument("--pool", default=DEFAULT_POOL, help="compute pool: Celery queue tuning.<pool>")
        parser.add_argument("--devices", type=int, default=None, help="devices of one worker to train on")
        parser.add_argument(
            "--estimate",
            action="store_true",
            help="print the memory per device and time it needs on --pool, and whether it fits; queue nothing "
            f"(--set also takes {', '.join(sorted(ESTIMATE_KEYS - {'devices'}))})",
        )
        parser.add_argument("--json", action="store_true", help="with --estimate: print it as JSON")
        parser.add_argument("--inline", action="store_true", help="train in this process, with progress")
        parser.add_argument(
            "--skip-if-tuned", action="store_true", help="do nothing when the active version is already a tuned one"
        )
        parser.add_argument(
            "--new-data-only",
            action="store_true",
            help="continue from --base on the questions added since that version was made",
        )
        parser.add_argument(
            "--resume",
            type=int,
            default=None,
            metavar="RUN_ID",
            help="continue a failed, cancelled or abandoned run from its last checkpoint",
        )

    def handle(self, *args, **opts):
        if opts["resume"] is not None:
            return self._resume(opts["resume"], inline=opts["inline"])
        active = ModelVersion.objects.filter(is_active=True).first()
        if opts["skip_if_tuned"] and active and active.method not in ("bootstrap", "checkpoint"):
            self.stdout.write(f"active version {active.name} is already tuned; nothing to do")
            return
        overrides = _overrides(opts["set"])
        method = opts["method"]
        if opts["devices"] is not None:
            overrides["devices"] = opts["devices"]
        if opts["estimate"]:
            return self._estimate(opts, method=method, overrides=overrides)
        if method == "qlora":
            method, overrides = "lora", {"quantization_bit": 4} | overrides
        base = None
        if opts["base"]:
            base = ModelVersion.objects.filter(name=opts["base"]).first()
            if base is None:
                raise CommandError(f"no model version named {opts['base']!r}")
        try:
            run = run_create(
                method=method,
                stage=opts["stage"],
                base_version=base,
                overrides=overrides,
                subject=opts["subject"],
                split=opts["split"],
                memorise=opts["memorise"],
                promote=opts["promote"],
                new_data_only=opts["new_data_only"],
                enqueue=not opts["inline"],
                pool=opts["pool"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if not opts["inline"]:
            self.stdout.write(f"run {run.pk} queued on the {pool_queue(run.pool)!r} queue; a worker will pick it up")
            return
        self.stdout.write(f"run {run.pk}: {run.method}/{run.stage} on {run.dataset_size} records")
        self._execute(run)

    def _estimate(self, opts, *, method: str, overrides: dict) -> None:
        name = opts["base"] or BASE_VERSION_NAME
        base = ModelVersion.objects.filter(name=name).first()
        if base is None:
            raise CommandError(f"no model version named {name!r}")
        try:
            found = estimate_request(
                base_version=base, method=method, overrides=overrides, pool=opts["pool"], split=opts["split"]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if opts["json"]:
            self.stdout.write(json.dumps(found, ensure_ascii=False))
            return
        fits = {True: "fits", False: "does not fit", None: "cannot tell"}[found["fits"]]
        took = f", about {found['seconds'] / 3600:.1f} h" if found["seconds"] else ""
        self.stdout.write(
            f"{found['method']} on {base.name} ({found['params'] / 1e9:.2f}B): {found['per_device_gb']:.1f} GB per "
            f"device × {found['devices']}{took}; pool {found['pool']}: {fits} ({found['why']})"
        )

    def _resume(self, run_id: int, *, inline: bool) -> None:
        run = TuningRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"no run {run_id}")
        try:
            with transaction.atomic():
                run = run_resume(run=run, enqueue=not inline)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if not inline:
            self.stdout.write(f"run {run.pk} queued again; it continues from its last checkpoint")
            return
        self._execute(run)

    def _execute(self, run) -> None:
        # inline: the new version is evaluated (and promoted, when asked) before run_execute returns
        run = run_execute(run_id=run.pk, on_progress=self._progress, inline=True)
        self.stdout.write("")
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"run {run.pk} {run.status}: {run.error}")
        run.refresh_from_db()
        version = run.output_version
        active = " (now active)" if version.is_active else ""
        self.stdout.write(
            f"run {run.pk} succeeded: version {version.name}, {version.get_state_display().lower()}{active}"
        )
        if run.promote and not version.is_active:
            problem = run.events.exclude(level=RunEvent.Level.INFO).order_by("-id").first()
            self.stdout.write(problem.message if problem else f"{version.name} was not promoted")
        summary = {
            key: run.metrics.get(key)
            for key in ("final_logged_loss", "steps", "epochs", "train_seconds", "eval", "grading")
        }
        self.stdout.write(json.dumps({key: value for key, value in summary.items() if value is not None}))

    def _progress(self, event: dict) -> None:
        if not event.get("max_steps"):
            return
        done = event["step"] / event["max_steps"]
        bar = "#" * int(done * 30)
        loss = event.get("metrics", {}).get("loss")
        loss_text = f" loss {loss:.4f}" if loss is not None else ""
        self.stdout.write(f"\r[{bar:<30}] {event['step']}/{event['max_steps']}{loss_text}", ending="")
        self.stdout.flush()


def _overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CommandError(f"--set {pair!r}: expected KEY=VALUE")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return overrides
