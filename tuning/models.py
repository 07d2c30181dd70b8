from django.conf import settings
from django.db import models


class VersionState(models.TextChoices):
    """Where a model version is on its way to serving: trained -> evaluating -> evaluated (promotable).

    A tuning run registers its result as trained and announces it (tuning.signals.version_trained);
    inference runs the checks a new version goes through and marks it evaluated, or evaluation_failed.
    Only an evaluated version is promoted without force.
    """

    TRAINED = "trained", "Trained, waiting for evaluation"
    EVALUATING = "evaluating", "Evaluating"
    EVALUATED = "evaluated", "Evaluated"
    EVALUATION_FAILED = "evaluation_failed", "Evaluation failed"


class ModelVersion(models.Model):
    """A servable model directory (Hugging Face format, adapters already merged).

    `state` is trained for a run's result until inference has evaluated it. A version registered by
    hand (the bootstrap model, a base checkpoint, a directory made elsewhere) is registered evaluated:
    nothing here measures it before it serves, and the first base model must serve at once. Versions
    that existed before states did were migrated as evaluated (they were promotable then).
    """

    name = models.CharField(max_length=100, unique=True)
    path = models.CharField(max_length=1000)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    method = models.CharField(max_length=32)  # bootstrap | checkpoint | lora | freeze | full
    is_active = models.BooleanField(default=False)
    state = models.CharField(max_length=20, choices=VersionState.choices, default=VersionState.TRAINED)
    metrics = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True)  # the training config that produced it
    dataset_hash = models.CharField(max_length=64, blank=True, default="")  # sha256 of the dataset snapshot
    template_hash = models.CharField(max_length=64, blank=True, default="")  # sha256 of its chat template
    # read from config.json and the safetensors headers at registration (tuning/checkpoints.py)
    architecture = models.CharField(max_length=100, blank=True, default="")
    parameters = models.BigIntegerField(null=True, blank=True)
    spec = models.JSONField(default=dict, blank=True)  # dimensions the estimate uses (tuning/estimate.py)
    config_only = models.BooleanField(
        default=False, help_text="a config.json without weights: for estimates only, never trained nor served"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_version")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def promotable(self) -> bool:
        """Evaluated: promotion (without force) may make it the active version."""
        return self.state == VersionState.EVALUATED


class RunStatus(models.TextChoices):
    VALIDATING = "validating", "Validating"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class TuningRun(models.Model):
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    method = models.CharField(max_length=16)
    stage = models.CharField(max_length=8, default="sft")
    base_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="runs")
    output_version = models.OneToOneField(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="produced_by"
    )
    config = models.JSONField()
    dataset_path = models.CharField(max_length=1000)
    dataset_size = models.PositiveIntegerField()
    promote = models.BooleanField(default=False, help_text="make the result the active version when it succeeds")
    progress = models.FloatField(default=0.0)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    # the bank questions (the versions it read) the run trains on: what its version is scored on as
    # "bank-trained", to tell memorising from generalising
    question_ids = models.JSONField(default=list, blank=True)
    # what it was asked to train on: the bank's questions of this split, under this subject ("" for all)
    subject = models.CharField(max_length=500, blank=True, default="")
    split = models.CharField(max_length=8, default="train")
    # where it trains: a worker of Celery queue `tuning.<pool>` (`default`: the `tuning` queue), on the
    # config's `devices` of it
    pool = models.CharField(max_length=50, default="default")
    cancel_requested = models.BooleanField(default=False)
    resume = models.BooleanField(default=False, help_text="continue from the last checkpoint when it runs")
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="last sign of life from the worker")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.method}, {self.status})"


class RunEvent(models.Model):
    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARN = "warn", "Warning"
        ERROR = "error", "Error"

    run = models.ForeignKey(TuningRun, on_delete=models.CASCADE, related_name="events")
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"run {self.run_id} [{self.level}] {self.message}"


class PromotionAction(models.TextChoices):
    PROMOTE = "promote", "Promoted"
    FORCED = "forced", "Promoted by force"
    ROLLBACK = "rollback", "Rolled back"
    REFUSED = "refused", "Refused"


class PromotionLog(models.Model):
    """Every change of the active version, and every refusal: who, when, from, to and why."""

    action = models.CharField(max_length=16, choices=PromotionAction.choices)
    from_version = models.CharField(max_length=100, blank=True, default="")
    to_version = models.CharField(max_length=100)
    reason = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)  # the gate's refusals, the states involved
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_version or '-'} -> {self.to_version}"


class ComputeWorker(models.Model):
    """A tuning worker and its hardware, as it reports itself when it starts and in its heartbeat.

    Not seen for TUNING_WORKER_GONE_SECONDS: gone (kept, so its pool's hardware stays known). `run` is
    the run it trains now (None: idle).
    """

    name = models.CharField(max_length=200, unique=True)  # Celery's worker name, e.g. tuning@gpu-3
    pool = models.CharField(max_length=50, default="default", db_index=True)
    host = models.CharField(max_length=200, blank=True, default="")
    device_type = models.CharField(max_length=16, default="cpu")  # cuda | cpu
    device_name = models.CharField(max_length=200, blank=True, default="")
    device_count = models.PositiveSmallIntegerField(default=1)
    memory_per_device_gb = models.FloatField(default=0.0)
    bf16 = models.BooleanField(default=False)
    bitsandbytes = models.BooleanField(default=False)
    cpu_cores = models.PositiveIntegerField(default=1)
    ram_gb = models.FloatField(default=0.0)
    run = models.ForeignKey(TuningRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    stopped = models.BooleanField(default=False)

    class Meta:
        ordering = ["pool", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.pool}: {self.device_count}× {self.device_name or self.device_type})"
