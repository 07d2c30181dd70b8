from django.conf import settings
from django.db import models


class Subject(models.Model):
    """A node of the subject tree; `path` is the full name, e.g. `数学/四则运算`."""

    name = models.CharField(max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=500, unique=True)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path


class QuestionType(models.TextChoices):
    SINGLE_CHOICE = "single_choice", "单选题"
    SHORT_ANSWER = "short_answer", "简答题"


class Question(models.Model):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="questions")
    qtype = models.CharField(max_length=32, choices=QuestionType.choices, default=QuestionType.SINGLE_CHOICE)
    stem = models.TextField()
    # [{"key": "A", "text": "..."}, ...] in display order; empty for types without options.
    options = models.JSONField(default=list, blank=True)
    # The option key for single choice; the reference answer for short answer.
    answer = models.TextField()
    explanation = models.TextField(blank=True, default="")
    score = models.DecimalField(max_digits=6, decimal_places=2, default=1)
    difficulty = models.PositiveSmallIntegerField(null=True, blank=True)
    source_file = models.CharField(max_length=500, blank=True, default="")
    source_row = models.PositiveIntegerField(null=True, blank=True)
    source_dataset = models.CharField(max_length=200, blank=True, default="")
    source_licence = models.CharField(max_length=100, blank=True, default="")
    # NFKC-normalised stem + options, for duplicate detection across imports.
    content_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.stem[:40]}"

    @property
    def option_keys(self) -> list[str]:
        return [option["key"] for option in self.options]


class Paper(models.Model):
    """A fixed exam paper: chosen questions in order, each with its score."""

    title = models.CharField(max_length=200, unique=True)
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.PROTECT)
    questions = models.ManyToManyField(Question, through="PaperQuestion", related_name="papers")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title


class PaperQuestion(models.Model):
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="items")
    question = models.ForeignKey(Question, on_delete=models.PROTECT)
    position = models.PositiveIntegerField()
    score = models.DecimalField(max_digits=6, decimal_places=2, default=1)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["paper", "position"], name="paper_position_unique")]

    def __str__(self) -> str:
        return f"{self.paper} #{self.position}"


class ExplanationSource(models.TextChoices):
    PENDING = "pending", "Pending"
    MODEL = "model", "Model"
    BANK = "bank", "Question bank (model unavailable)"


class Answer(models.Model):
    """One submitted answer. Saved and graded before any model is asked, so it is never lost."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    response = models.TextField()
    is_correct = models.BooleanField(null=True)
    score = models.DecimalField(max_digits=6, decimal_places=2, null=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    explanation = models.TextField(blank=True, default="")
    explanation_source = models.CharField(
        max_length=16, choices=ExplanationSource.choices, default=ExplanationSource.PENDING
    )
    model_answer = models.CharField(max_length=16, blank=True, default="")
    model_version = models.CharField(max_length=100, blank=True, default="")
    explanation_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-submitted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user} → question {self.question_id}: {self.response}"
