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
    MULTIPLE_CHOICE = "multiple_choice", "多选题"
    TRUE_FALSE = "true_false", "判断题"
    FILL_BLANK = "fill_blank", "填空题"
    NUMERICAL = "numerical", "数值题"
    MATCHING = "matching", "匹配题"
    SHORT_ANSWER = "short_answer", "简答题"
    ESSAY = "essay", "论述题"
    CLOZE = "cloze", "完形填空（组合题）"
    DESCRIPTION = "description", "说明（不计分）"


CHOICE_TYPES = (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE)
# Types a key grades exactly; the others go to a teacher or the model grader.
OBJECTIVE_TYPES = (
    *CHOICE_TYPES,
    QuestionType.TRUE_FALSE,
    QuestionType.FILL_BLANK,
    QuestionType.NUMERICAL,
    QuestionType.MATCHING,
)


class Tag(models.Model):
    name = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return self.name


class KnowledgePoint(models.Model):
    """知识点: a named point of the syllabus, optionally under a subject."""

    name = models.CharField(max_length=200, unique=True)

    def __str__(self) -> str:
        return self.name


class Question(models.Model):
    """One version of a question. Editing a question that an exam uses creates a new version
    (same `root`, `version` + 1); exams keep pointing at the version they were built with."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="questions")
    qtype = models.CharField(max_length=32, choices=QuestionType.choices, default=QuestionType.SINGLE_CHOICE)
    stem = models.TextField()
    stem_format = models.CharField(max_length=16, default="plain")  # plain | html | markdown
    # Choice types: [{"key": "A", "text": "...", "fraction": 1.0, "feedback": ""}, ...] in display order.
    options = models.JSONField(default=list, blank=True)
    # A readable key: "B" (single), "AC" (multiple), "true"/"false", "3.14", blanks "山西；北京",
    # the reference answer for short answer and essay.
    answer = models.TextField(blank=True, default="")
    # What grading needs beyond `answer`, by type (see quizbank/importers/base.py for each shape).
    answer_data = models.JSONField(default=dict, blank=True)
    explanation = models.TextField(blank=True, default="")
    general_feedback = models.TextField(blank=True, default="")
    score = models.DecimalField(max_digits=6, decimal_places=2, default=1)
    # 漏选分: the score for a correct but incomplete subset of a multiple-choice answer.
    partial_score = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    difficulty = models.PositiveSmallIntegerField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="questions")
    knowledge_points = models.ManyToManyField(KnowledgePoint, blank=True, related_name="questions")
    source_file = models.CharField(max_length=500, blank=True, default="")
    source_row = models.PositiveIntegerField(null=True, blank=True)  # line or row in the source file
    source_dataset = models.CharField(max_length=200, blank=True, default="")
    source_licence = models.CharField(max_length=100, blank=True, default="")
    # NFKC-normalised type + stem + options + key, for duplicate detection across imports.
    content_hash = models.CharField(max_length=64, db_index=True)
    root = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["content_hash"], condition=models.Q(is_current=True), name="current_question_unique"
            )
        ]
        indexes = [models.Index(fields=["qtype", "difficulty"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.stem[:40]}"

    @property
    def option_keys(self) -> list[str]:
        return [option["key"] for option in self.options]

    @property
    def is_non_commercial(self) -> bool:
        return "NC" in self.source_licence.upper().replace("-", " ").split()


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


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (nothing written)"


class ImportJob(models.Model):
    """An uploaded file being imported; large files run on a worker and report progress here."""

    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    file_path = models.CharField(max_length=1000)
    file_name = models.CharField(max_length=300)
    file_size = models.PositiveBigIntegerField(default=0)
    format = models.CharField(max_length=32, blank=True, default="")
    subject = models.CharField(max_length=500, blank=True, default="")
    skip_invalid = models.BooleanField(default=False)
    dry_run = models.BooleanField(default=False)
    rows_read = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} {self.file_name} ({self.status})"
