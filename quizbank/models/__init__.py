from decimal import Decimal

from django.conf import settings
from django.db import models


class Subject(models.Model):
    """A node of the subject tree; `path` is the full name, e.g. `数学/四则运算`."""

    name = models.CharField(max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=500, unique=True)
    # A top-level subject is a bank; its owner (None: the school's, every teacher's) shares it.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="own_banks"
    )

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
# Types answered in free text and graded against a rubric, by a teacher or the model grader.
GRADED_TYPES = (QuestionType.SHORT_ANSWER, QuestionType.ESSAY)


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


class PaperMode(models.TextChoices):
    EXAM = "exam", "考试"
    PRACTICE = "practice", "练习（每题即时反馈）"


class PaperKind(models.TextChoices):
    FIXED = "fixed", "固定试卷"
    RANDOM = "random", "随机组卷"


class GradingMethod(models.TextChoices):
    """How a student's attempts make the paper's grade."""

    HIGHEST = "highest", "最高分"
    LAST = "last", "最后一次"
    AVERAGE = "average", "平均分"


class Navigation(models.TextChoices):
    FREE = "free", "自由"
    SEQUENTIAL = "sequential", "顺序（不可返回）"


class OverdueRule(models.TextChoices):
    """What happens to an attempt whose time is up and that the student did not submit."""

    AUTOSUBMIT = "autosubmit", "自动交卷"
    GRACE = "grace", "宽限期内可交卷，否则作废"
    ABANDON = "abandon", "作废（不计分）"


class ReviewWhen(models.TextChoices):
    """When a student may see one part of the review (score, correctness, right answer, explanation)."""

    IMMEDIATELY = "immediately", "交卷后立即"
    AFTER_CLOSE = "after_close", "考试结束后"
    NEVER = "never", "从不"


class Paper(models.Model):
    """An exam or practice paper: fixed (chosen questions, pinned versions) or random (rules drawn per
    student), with its window, time limit, attempts, navigation and review policy."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.PROTECT)
    questions = models.ManyToManyField(Question, through="PaperQuestion", related_name="papers")
    mode = models.CharField(max_length=16, choices=PaperMode.choices, default=PaperMode.EXAM)
    kind = models.CharField(max_length=16, choices=PaperKind.choices, default=PaperKind.FIXED)
    published = models.BooleanField(default=True)
    # A personal practice paper (e.g. "practise my wrong answers") is visible to its owner only.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="own_papers"
    )
    open_at = models.DateTimeField(null=True, blank=True)
    close_at = models.DateTimeField(null=True, blank=True)
    time_limit_seconds = models.PositiveIntegerField(null=True, blank=True)
    attempts_allowed = models.PositiveSmallIntegerField(default=1)  # 0: unlimited
    grading_method = models.CharField(max_length=16, choices=GradingMethod.choices, default=GradingMethod.HIGHEST)
    shuffle_questions = models.BooleanField(default=False)
    shuffle_options = models.BooleanField(default=False)
    navigation = models.CharField(max_length=16, choices=Navigation.choices, default=Navigation.FREE)
    overdue_rule = models.CharField(max_length=16, choices=OverdueRule.choices, default=OverdueRule.AUTOSUBMIT)
    grace_seconds = models.PositiveIntegerField(default=0)
    multiple_choice_policy = models.CharField(max_length=16, default="partial_subset")
    review_score = models.CharField(max_length=16, choices=ReviewWhen.choices, default=ReviewWhen.IMMEDIATELY)
    review_correctness = models.CharField(max_length=16, choices=ReviewWhen.choices, default=ReviewWhen.AFTER_CLOSE)
    review_answer = models.CharField(max_length=16, choices=ReviewWhen.choices, default=ReviewWhen.AFTER_CLOSE)
    review_explanation = models.CharField(max_length=16, choices=ReviewWhen.choices, default=ReviewWhen.AFTER_CLOSE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class PaperQuestion(models.Model):
    """One question of a fixed paper, pinned to the version chosen, with its score on this paper."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="items")
    question = models.ForeignKey(Question, on_delete=models.PROTECT)
    position = models.PositiveIntegerField()
    score = models.DecimalField(max_digits=6, decimal_places=2, default=1)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["paper", "position"], name="paper_position_unique")]

    def __str__(self) -> str:
        return f"{self.paper} #{self.position}"


class PaperRule(models.Model):
    """One rule of a random paper: `count` current questions of this subject × type × difficulty,
    drawn per student, each worth `score`."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField()
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.PROTECT)
    qtype = models.CharField(max_length=32, choices=QuestionType.choices, blank=True, default="")
    difficulty = models.PositiveSmallIntegerField(null=True, blank=True)
    count = models.PositiveIntegerField()
    score = models.DecimalField(max_digits=6, decimal_places=2, default=1)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["paper", "position"], name="paper_rule_position_unique")]

    def __str__(self) -> str:
        return f"{self.paper} rule {self.position}: {self.count} × {self.qtype or 'any type'}"


class SessionState(models.TextChoices):
    IN_PROGRESS = "in_progress", "进行中"
    OVERDUE = "overdue", "已超时（宽限期）"
    FINISHED = "finished", "已交卷"
    ABANDONED = "abandoned", "已作废"


OPEN_SESSION_STATES = (SessionState.IN_PROGRESS, SessionState.OVERDUE)


class QuizSession(models.Model):
    """One attempt of one student at one paper. The deadline is the server's: answers after it are
    refused and a beat task finishes (or abandons) sessions whose time is up."""

    paper = models.ForeignKey(Paper, on_delete=models.PROTECT, related_name="sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="quiz_sessions")
    number = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=16, choices=SessionState.choices, default=SessionState.IN_PROGRESS)
    started_at = models.DateTimeField()
    deadline = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    finished_by = models.CharField(max_length=16, blank=True, default="")  # student | timer | teacher
    current_position = models.PositiveIntegerField(default=1)  # sequential navigation
    seed = models.BigIntegerField(default=0)
    score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    max_score = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    pending_count = models.PositiveIntegerField(default=0)  # answers a teacher or the model still grades

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["paper", "user", "number"], name="session_number_unique"),
            models.UniqueConstraint(
                fields=["paper", "user"],
                condition=models.Q(state__in=["in_progress", "overdue"]),
                name="one_open_session_per_paper",
            ),
        ]
        indexes = [models.Index(fields=["state", "deadline"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.paper} #{self.number} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_SESSION_STATES


class SessionItem(models.Model):
    """One question slot of a session, in the order this student sees it."""

    session = models.ForeignKey(QuizSession, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="+")
    score = models.DecimalField(max_digits=6, decimal_places=2)
    # Display order of option keys (shuffled per student) or of matching choices.
    option_order = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["session", "position"], name="session_item_position_unique")]

    def __str__(self) -> str:
        return f"session {self.session_id} #{self.position}"


class ExplanationSource(models.TextChoices):
    PENDING = "pending", "Pending"
    MODEL = "model", "Model"
    BANK = "bank", "Question bank (model unavailable)"


class GradeStatus(models.TextChoices):
    AUTO = "auto", "按答案自动评分"
    PENDING = "pending", "待评分"
    NEEDS_REVIEW = "needs_review", "需教师复核"
    MODEL = "model", "模型评分"
    TEACHER = "teacher", "教师评分"


# Answers still waiting for a grade: from the model (pending) or from a teacher (needs_review).
UNGRADED = (GradeStatus.PENDING, GradeStatus.NEEDS_REVIEW)


class Answer(models.Model):
    """One answer. Practice answers stand alone; exam answers belong to a session item, one row per
    item (autosave updates it). Saved and graded before any model is asked, so it is never lost."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    session = models.ForeignKey(QuizSession, null=True, blank=True, on_delete=models.PROTECT, related_name="answers")
    item = models.OneToOneField(SessionItem, null=True, blank=True, on_delete=models.PROTECT, related_name="answer")
    response = models.TextField(blank=True, default="")
    # The response as sent (a list of blanks, {left: right}...); `response` is its readable text.
    response_data = models.JSONField(null=True, blank=True)
    # The client's save counter: an older save arriving late (another tab, a retry) never overwrites a newer.
    client_seq = models.BigIntegerField(default=0)
    is_correct = models.BooleanField(null=True)
    score = models.DecimalField(max_digits=6, decimal_places=2, null=True)
    max_score = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    grade_status = models.CharField(max_length=16, choices=GradeStatus.choices, default=GradeStatus.AUTO)
    grade_detail = models.JSONField(default=dict, blank=True)
    # The key's or the model's score before a teacher changed it (for the retraining loop).
    original_score = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    original_status = models.CharField(max_length=16, blank=True, default="")
    feedback = models.TextField(blank=True, default="")
    graded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    graded_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    explanation = models.TextField(blank=True, default="")
    explanation_source = models.CharField(
        max_length=16, choices=ExplanationSource.choices, default=ExplanationSource.PENDING
    )
    model_answer = models.CharField(max_length=16, blank=True, default="")
    model_version = models.CharField(max_length=100, blank=True, default="")
    explanation_error = models.TextField(blank=True, default="")
    # The model grader's work, kept for review and retraining: the prompt sent, the raw output, the
    # per-criterion marks [{id, awarded, max, evidence}] after clamping, its confidence and version.
    grading_prompt = models.TextField(blank=True, default="")
    grading_raw = models.TextField(blank=True, default="")
    grading_criteria = models.JSONField(default=list, blank=True)
    grading_confidence = models.FloatField(null=True, blank=True)
    grading_model_version = models.CharField(max_length=100, blank=True, default="")
    grading_error = models.TextField(blank=True, default="")
    grading_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [models.Index(fields=["grade_status"])]

    def __str__(self) -> str:
        return f"{self.user} → question {self.question_id}: {self.response}"


def answer_worth(answer: Answer) -> Decimal:
    """What an answer can score: its paper's score for the item, else the question's own."""
    return answer.max_score if answer.max_score is not None else answer.question.score


class QuestionExplanation(models.Model):
    """A model version's explanation of a bank question, generated in a batch after promotion so a
    review page shows it without a model call."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="model_explanations")
    model_version = models.CharField(max_length=100)
    text = models.TextField()
    model_answer = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["question", "model_version"], name="question_explanation_unique")
        ]

    def __str__(self) -> str:
        return f"question {self.question_id} · {self.model_version}"


class WrongBookEntry(models.Model):
    """错题本: a question a student got wrong, until answered right enough times in a row in practice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wrong_book")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="+")
    times_wrong = models.PositiveIntegerField(default=0)
    right_streak = models.PositiveIntegerField(default=0)
    first_wrong_at = models.DateTimeField()
    last_wrong_at = models.DateTimeField()
    last_response = models.TextField(blank=True, default="")
    mastered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_wrong_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "question"], name="wrong_book_unique")]

    def __str__(self) -> str:
        return f"{self.user} ✗ question {self.question_id} ×{self.times_wrong}"


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
    # a layout no importer knows is read through a mapping (quizbank/importers/mapping.py), kept as sent
    mapping = models.JSONField(null=True, blank=True)
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


# The school layer's tables (classes, assignments, ownership, images, mapping profiles), beside the bank's.
from quizbank.models.school import (  # noqa: E402
    AccessLevel,
    BankShare,
    Enrolment,
    MappingProfile,
    PaperAssignment,
    PaperShare,
    QuestionImage,
    SchoolClass,
    StudentAccount,
)

__all__ = [
    "AccessLevel",
    "BankShare",
    "Enrolment",
    "MappingProfile",
    "PaperAssignment",
    "PaperShare",
    "QuestionImage",
    "SchoolClass",
    "StudentAccount",
]
