"""The school around the bank: classes (班级) and who is in them, papers assigned to classes, who owns
a bank or a paper and whom they share it with, the images questions show, and saved import mappings."""

from django.conf import settings
from django.db import models


class SchoolClass(models.Model):
    """A class of students. Students join by the teacher's import or with the class's join code."""

    name = models.CharField(max_length=100, unique=True)
    code = models.CharField(max_length=16, unique=True)  # the join code a teacher hands out
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="own_classes"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "班级"
        verbose_name_plural = "班级"

    def __str__(self) -> str:
        return self.name


class Enrolment(models.Model):
    """A student in a class; a student may be in several."""

    school_class = models.ForeignKey(SchoolClass, on_delete=models.CASCADE, related_name="enrolments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolments")
    joined_at = models.DateTimeField(auto_now_add=True)
    joined_by = models.CharField(max_length=16, default="import")  # import | code | teacher

    class Meta:
        ordering = ["school_class", "user__username"]
        constraints = [models.UniqueConstraint(fields=["school_class", "user"], name="enrolment_once")]

    def __str__(self) -> str:
        return f"{self.user} in {self.school_class}"


class StudentAccount(models.Model):
    """What a student account made by a class import carries beside Django's user: the student number
    (学号, also the username) and whether the one-time password must still be changed."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="student_account")
    student_number = models.CharField(max_length=32, unique=True)
    must_change_password = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.student_number


class PaperAssignment(models.Model):
    """A paper given to a class, with the class's own window and, if set, its own time limit (the
    paper's own settings apply where these are empty). Once a paper is assigned to any class, only
    the students of its classes see it."""

    paper = models.ForeignKey("quizbank.Paper", on_delete=models.CASCADE, related_name="assignments")
    school_class = models.ForeignKey(SchoolClass, on_delete=models.CASCADE, related_name="assignments")
    open_at = models.DateTimeField(null=True, blank=True)
    close_at = models.DateTimeField(null=True, blank=True)
    time_limit_seconds = models.PositiveIntegerField(null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["paper", "school_class__name"]
        constraints = [models.UniqueConstraint(fields=["paper", "school_class"], name="assignment_once")]

    def __str__(self) -> str:
        return f"{self.paper} → {self.school_class}"


class AccessLevel(models.TextChoices):
    """What a share lets another teacher do, each level including the ones before it."""

    VIEW = "view", "查看"
    USE = "use", "使用"  # put a bank's questions on papers; assign a paper to one's own classes
    EDIT = "edit", "编辑"


LEVEL_ORDER = {AccessLevel.VIEW: 1, AccessLevel.USE: 2, AccessLevel.EDIT: 3}


class BankShare(models.Model):
    """A teacher's bank (a top-level subject and everything under it) shared with another teacher."""

    subject = models.ForeignKey("quizbank.Subject", on_delete=models.CASCADE, related_name="shares")
    teacher = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bank_shares")
    level = models.CharField(max_length=8, choices=AccessLevel.choices, default=AccessLevel.VIEW)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject", "teacher"], name="bank_share_once")]

    def __str__(self) -> str:
        return f"{self.subject} → {self.teacher} ({self.level})"


class PaperShare(models.Model):
    """A teacher's paper shared with another teacher."""

    paper = models.ForeignKey("quizbank.Paper", on_delete=models.CASCADE, related_name="shares")
    teacher = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="paper_shares")
    level = models.CharField(max_length=8, choices=AccessLevel.choices, default=AccessLevel.VIEW)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["paper", "teacher"], name="paper_share_once")]

    def __str__(self) -> str:
        return f"{self.paper} → {self.teacher} ({self.level})"


class QuestionImage(models.Model):
    """An image a question shows, stored once per content (its sha256) through Django's storage API."""

    file = models.FileField(upload_to="question-images/")
    sha256 = models.CharField(max_length=64, unique=True)
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    original_name = models.CharField(max_length=300, blank=True, default="")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.file.name


class MappingProfile(models.Model):
    """A named mapping (`import_questions --map`) saved from the import page for files of one layout."""

    name = models.CharField(max_length=100, unique=True)
    mapping = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
