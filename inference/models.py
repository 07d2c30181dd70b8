"""Evaluation suites and the scores of model versions on them.

Answers carry their explanations (quizbank.Answer); serving state lives in tuning.ModelVersion.

A suite is a frozen list of items: question versions to answer and explain, teacher-graded answers
to grade. Once a version has been scored on a revision of a suite, its items never change; a suite
whose source has changed gets a new revision. Every version's score on a revision keeps each item's
prompt, raw output, parsed answer, verdict and the version that actually answered, so two versions
can be compared item by item.
"""

from django.db import models


class SuiteKind(models.TextChoices):
    HELDOUT = "heldout", "The bank's test split"
    TRAINED = "trained", "The questions a version was trained on"
    GRADING = "grading", "Teacher-graded answers of the test split"
    SUBJECT = "subject", "A subject of the bank"
    SOURCE = "source", "An imported bank (its source)"


class EvalSuite(models.Model):
    name = models.CharField(max_length=100)
    revision = models.PositiveIntegerField(default=1)
    kind = models.CharField(max_length=16, choices=SuiteKind.choices)
    # what the items were drawn from: a subject path, a source name, the run a trained suite came from
    selector = models.CharField(max_length=300, blank=True, default="")
    items_hash = models.CharField(max_length=64)  # sha256 of the item keys: an unchanged source, same revision
    is_active = models.BooleanField(default=True, help_text="every new version is scored on active suites")
    frozen_at = models.DateTimeField(null=True, blank=True, help_text="first scored: its items never change")
    description = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-revision"]
        constraints = [models.UniqueConstraint(fields=["name", "revision"], name="suite_revision_unique")]

    def __str__(self) -> str:
        return f"{self.name}@{self.revision}"


class EvalItem(models.Model):
    class Kind(models.TextChoices):
        ANSWER = "answer", "Answer and explain"
        GRADE = "grade", "Grade a teacher-graded answer"

    suite = models.ForeignKey(EvalSuite, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    question = models.ForeignKey("quizbank.Question", on_delete=models.PROTECT, related_name="+")
    answer = models.ForeignKey("quizbank.Answer", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # frozen labels and references, so that later edits of the bank cannot move a scored suite
    subject = models.CharField(max_length=300, blank=True, default="")
    qtype = models.CharField(max_length=32, blank=True, default="")
    key = models.CharField(max_length=64, blank=True, default="")  # the right option letter(s)
    reference = models.TextField(blank=True, default="")  # the bank's 解析
    teacher_score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    worth = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["suite", "position"]
        constraints = [models.UniqueConstraint(fields=["suite", "position"], name="suite_item_position_unique")]

    def __str__(self) -> str:
        return f"{self.suite} #{self.position} ({self.kind})"


class EvalRun(models.Model):
    """One version scored on one suite revision: the aggregates, and `results` per item."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    suite = models.ForeignKey(EvalSuite, on_delete=models.PROTECT, related_name="runs")
    version = models.ForeignKey("tuning.ModelVersion", on_delete=models.CASCADE, related_name="eval_runs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    engine = models.CharField(max_length=16, blank=True, default="")  # server | in-process
    answered_by = models.CharField(max_length=100, blank=True, default="")
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["suite", "version"], name="eval_run_unique")]

    def __str__(self) -> str:
        return f"{self.version_id} on {self.suite}"


class EvalResult(models.Model):
    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    item = models.ForeignKey(EvalItem, on_delete=models.CASCADE, related_name="results")
    prompt = models.JSONField(default=list)  # the chat messages sent
    raw_output = models.TextField(blank=True, default="")
    parsed_answer = models.CharField(max_length=64, blank=True, default="")
    correct = models.BooleanField(null=True)  # answer items
    parse_failed = models.BooleanField(default=False)
    fidelity = models.FloatField(null=True)  # character ROUGE-L against the reference 解析
    chrf = models.FloatField(null=True)
    model_score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)  # grade items
    tokens = models.PositiveIntegerField(null=True)
    latency_ms = models.PositiveIntegerField(null=True)
    answered_by = models.CharField(max_length=100, blank=True, default="")
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["run", "item__position"]
        constraints = [models.UniqueConstraint(fields=["run", "item"], name="eval_result_unique")]

    def __str__(self) -> str:
        return f"{self.run} · item {self.item_id}"
