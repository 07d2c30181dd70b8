"""/api/v1/papers: papers as teachers manage them (every setting) and as students see them (cards
without question content)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import ApplicationError
from quizbank.apis.common import ERROR, ChoiceSetField, TeacherWritesMixin
from quizbank.grading import MULTIPLE_CHOICE_POLICIES
from quizbank.models import (
    AccessLevel,
    GradingMethod,
    Navigation,
    OverdueRule,
    Paper,
    PaperKind,
    PaperMode,
    PaperQuestion,
    PaperRule,
    Question,
    QuestionType,
    ReviewWhen,
    Subject,
)
from quizbank.roles import is_teacher
from quizbank.selectors.access import paper_for_teacher, papers_reachable, question_for_teacher
from quizbank.selectors.papers import paper_of_teacher, papers_of_teacher, papers_with_attempts
from quizbank.services import RuleSpec, paper_create, paper_create_random, paper_update


class PaperSettingsInputSerializer(serializers.Serializer):
    """The settings of `quizbank.services.papers.PAPER_SETTINGS`; only those sent are changed."""

    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    mode = serializers.ChoiceField(choices=PaperMode.choices, required=False)
    published = serializers.BooleanField(required=False)
    open_at = serializers.DateTimeField(required=False, allow_null=True)
    close_at = serializers.DateTimeField(required=False, allow_null=True)
    time_limit_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    attempts_allowed = serializers.IntegerField(required=False, min_value=0, max_value=32767, help_text="0: unlimited")
    grading_method = serializers.ChoiceField(choices=GradingMethod.choices, required=False)
    shuffle_questions = serializers.BooleanField(required=False)
    shuffle_options = serializers.BooleanField(required=False)
    navigation = serializers.ChoiceField(choices=Navigation.choices, required=False)
    overdue_rule = serializers.ChoiceField(choices=OverdueRule.choices, required=False)
    grace_seconds = serializers.IntegerField(required=False, min_value=0)
    multiple_choice_policy = serializers.ChoiceField(choices=MULTIPLE_CHOICE_POLICIES, required=False)
    review_score = ChoiceSetField(ReviewWhen, required=False)
    review_correctness = ChoiceSetField(ReviewWhen, required=False)
    review_answer = ChoiceSetField(ReviewWhen, required=False)
    review_explanation = ChoiceSetField(ReviewWhen, required=False)

    def validate(self, data):
        # A misspelt or unsupported setting is refused rather than silently ignored.
        unknown = sorted(set(getattr(self, "initial_data", None) or {}) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: "not a field of this operation" for name in unknown})
        return data


class RuleInputSerializer(serializers.Serializer):
    """One rule of a random paper; what is left out takes `RuleSpec`'s default (any subject, type, difficulty)."""

    subject = serializers.CharField(required=False, help_text="a subject path, sub-subjects included")
    qtype = ChoiceSetField(QuestionType, required=False)
    difficulty = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    count = serializers.IntegerField(min_value=1)
    score = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=0, required=False)


class PaperCreateInputSerializer(PaperSettingsInputSerializer):
    """A fixed paper (`question_ids`, optional `scores`) or a random one (`rules`), never both."""

    title = serializers.CharField(max_length=200)
    subject = serializers.SlugRelatedField(
        slug_field="path", queryset=Subject.objects.all(), required=False, allow_null=True
    )
    question_ids = serializers.PrimaryKeyRelatedField(many=True, queryset=Question.objects.all(), required=False)
    scores = serializers.ListField(
        child=serializers.DecimalField(max_digits=6, decimal_places=2, min_value=0), required=False
    )
    rules = RuleInputSerializer(many=True, required=False)

    def validate(self, data):
        data = super().validate(data)
        if ("question_ids" in data) == ("rules" in data):
            raise serializers.ValidationError("give question_ids (a fixed paper) or rules (a random paper)")
        if "scores" in data and "rules" in data:
            raise serializers.ValidationError({"scores": "a random paper takes its scores from its rules"})
        return data


class PaperQuestionSerializer(serializers.ModelSerializer):
    question = serializers.IntegerField(source="question_id")
    qtype = serializers.CharField(source="question.qtype")
    stem = serializers.CharField(source="question.stem")

    class Meta:
        model = PaperQuestion
        fields = ["position", "question", "qtype", "stem", "score"]


class PaperRuleSerializer(serializers.ModelSerializer):
    subject = serializers.SlugRelatedField(slug_field="path", read_only=True)
    qtype = serializers.CharField(read_only=True, help_text="a question type; empty: any type")

    class Meta:
        model = PaperRule
        fields = ["position", "subject", "qtype", "difficulty", "count", "score"]


def _question_count(paper: Paper) -> int:
    """From what the selector loaded (`item_count`, the rules); a paper just written counts its own."""
    if paper.kind == PaperKind.RANDOM:
        return sum(rule.count for rule in paper.rules.all())
    count = getattr(paper, "item_count", None)
    return paper.items.count() if count is None else count


class PaperSerializer(serializers.ModelSerializer):
    """A paper as a teacher sees it: every setting."""

    subject = serializers.SlugRelatedField(slug_field="path", read_only=True)
    review_score = ChoiceSetField(ReviewWhen, read_only=True)
    review_correctness = ChoiceSetField(ReviewWhen, read_only=True)
    review_answer = ChoiceSetField(ReviewWhen, read_only=True)
    review_explanation = ChoiceSetField(ReviewWhen, read_only=True)
    question_count = serializers.SerializerMethodField()
    rules = PaperRuleSerializer(many=True, read_only=True)

    class Meta:
        model = Paper
        fields = [
            "id",
            "title",
            "description",
            "subject",
            "mode",
            "kind",
            "published",
            "owner",
            "open_at",
            "close_at",
            "time_limit_seconds",
            "attempts_allowed",
            "grading_method",
            "shuffle_questions",
            "shuffle_options",
            "navigation",
            "overdue_rule",
            "grace_seconds",
            "multiple_choice_policy",
            "review_score",
            "review_correctness",
            "review_answer",
            "review_explanation",
            "created_by",
            "created_at",
            "question_count",
            "rules",
        ]

    def get_question_count(self, paper: Paper) -> int:
        return _question_count(paper)


class PaperDetailSerializer(PaperSerializer):
    """A paper as a teacher sees it, with its questions (a fixed paper's pinned versions)."""

    questions = PaperQuestionSerializer(source="items", many=True, read_only=True)

    class Meta(PaperSerializer.Meta):
        fields = [*PaperSerializer.Meta.fields, "questions"]


class PaperCardSerializer(serializers.ModelSerializer):
    """A paper as a student sees it: no question content. `grade` is shown once the review policy
    lets the student see scores; `open_session` is the attempt they can resume. Reads what
    `quizbank.selectors.papers.papers_with_attempts` loaded."""

    question_count = serializers.SerializerMethodField()
    attempts_used = serializers.SerializerMethodField()
    grade = serializers.SerializerMethodField()
    open_session = serializers.SerializerMethodField()
    # the student's own window and limit: their class's where the paper is assigned to it
    open_at = serializers.DateTimeField(source="terms.open_at", read_only=True, allow_null=True)
    close_at = serializers.DateTimeField(source="terms.close_at", read_only=True, allow_null=True)
    time_limit_seconds = serializers.IntegerField(source="terms.time_limit_seconds", read_only=True, allow_null=True)

    class Meta:
        model = Paper
        fields = [
            "id",
            "title",
            "description",
            "mode",
            "kind",
            "open_at",
            "close_at",
            "time_limit_seconds",
            "attempts_allowed",
            "attempts_used",
            "question_count",
            "grade",
            "open_session",
        ]

    def get_question_count(self, paper: Paper) -> int:
        return _question_count(paper)

    def get_attempts_used(self, paper: Paper) -> int:
        return len(paper.own_sessions)

    @extend_schema_field(serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True))
    def get_grade(self, paper: Paper):
        return None if paper.shown_grade is None else str(paper.shown_grade)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_open_session(self, paper: Paper):
        return next((session.pk for session in paper.own_sessions if session.is_open), None)


PAPER_ENTRY = PolymorphicProxySerializer(
    component_name="PaperEntry",
    serializers=[PaperCardSerializer, PaperDetailSerializer],
    resource_type_field_name=None,
)
PAPER_ENTRIES = PolymorphicProxySerializer(
    component_name="PaperListEntry",
    serializers=[PaperCardSerializer, PaperSerializer],
    resource_type_field_name=None,
    many=True,
)


class PaperListApi(TeacherWritesMixin, APIView):
    @extend_schema(
        operation_id="papers_list",
        tags=["papers"],
        summary="Papers the user may take (teachers and admins: every paper)",
        description="Students get cards without question content; teachers get every setting.",
        responses=PAPER_ENTRIES,
    )
    def get(self, request):
        if is_teacher(request.user):
            papers = papers_reachable(papers_of_teacher(), user=request.user)
            return Response(PaperSerializer(papers, many=True).data)
        return Response(PaperCardSerializer(papers_with_attempts(user=request.user), many=True).data)

    @extend_schema(
        operation_id="papers_create",
        tags=["papers"],
        summary="Create a fixed paper (question_ids) or a random one (rules)",
        request=PaperCreateInputSerializer,
        responses={201: PaperDetailSerializer, 400: ERROR, 409: ERROR},
    )
    def post(self, request):
        serializer = PaperCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        common = {"title": data.pop("title"), "subject": data.pop("subject", None), "created_by": request.user}
        if "rules" in data:
            rules = [RuleSpec(**rule) for rule in data.pop("rules")]
            paper = paper_create_random(rules=rules, **common, **data)
        else:
            for question in data["question_ids"]:  # a paper uses questions of banks the teacher may use
                question_for_teacher(user=request.user, question=question, level=AccessLevel.USE)
            paper = paper_create(questions=data.pop("question_ids"), scores=data.pop("scores", None), **common, **data)
        return Response(PaperDetailSerializer(paper).data, status=status.HTTP_201_CREATED)


class PaperDetailApi(TeacherWritesMixin, APIView):
    @extend_schema(
        operation_id="papers_retrieve",
        tags=["papers"],
        summary="One paper: a card for students, every setting and question for teachers",
        responses={200: PAPER_ENTRY, 404: ERROR},
    )
    def get(self, request, paper_id: int):
        if is_teacher(request.user):
            paper = paper_for_teacher(user=request.user, paper_id=paper_id)
            return Response(PaperDetailSerializer(get_object_or_404(paper_of_teacher(), pk=paper.pk)).data)
        papers = papers_with_attempts(user=request.user, paper_id=paper_id)
        if not papers:
            raise ApplicationError("no such paper", extra={"code": "not_found"})
        return Response(PaperCardSerializer(papers[0]).data)

    @extend_schema(
        operation_id="papers_update",
        tags=["papers"],
        summary="Change a paper's settings (its questions stay pinned)",
        request=PaperSettingsInputSerializer,
        responses={200: PaperDetailSerializer, 400: ERROR, 404: ERROR},
    )
    def patch(self, request, paper_id: int):
        paper = paper_for_teacher(user=request.user, paper_id=paper_id, level=AccessLevel.EDIT)
        serializer = PaperSettingsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        paper = paper_update(paper=paper, **serializer.validated_data)
        return Response(PaperDetailSerializer(paper).data)
