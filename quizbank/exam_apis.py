"""JSON API for papers, attempts, grading and the wrong-answer book (/api/v1/...).

A student learns about a session only through `session_view`, which applies the review policy, and
about a paper only through its card (no question content). Each path has one class and each of its
methods is one operation: validate the input, call one service or selector, return the output.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, TextChoices
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import ApplicationError
from core.signin import SIGNIN_LOCKED, signin_wait
from core.throttling import request_ident, throttle_hit
from core.tokens import token_rotate
from quizbank.grading import MULTIPLE_CHOICE_POLICIES
from quizbank.models import (
    Answer,
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
    QuizSession,
    ReviewWhen,
    SessionState,
    Subject,
    WrongBookEntry,
)
from quizbank.roles import IsTeacher, is_teacher
from quizbank.selectors.exams import (
    paper_for_student,
    paper_grade,
    papers_for_student,
    review_visibility,
    session_of_student,
    session_open_of,
    session_view,
    sessions_of_student,
    wrong_book_of,
    wrong_book_practice_open,
)
from quizbank.selectors.results import grading_queue, item_statistics, paper_sessions
from quizbank.services import (
    RuleSpec,
    answer_grade,
    paper_create,
    paper_create_random,
    paper_update,
    session_advance,
    session_answer_save,
    session_expire_if_due,
    session_finish,
    session_start,
    wrong_book_practice_start,
)


# The HTTP status of a refusal, by its `extra["code"]`; refusals without a listed code stay 400.
class TeacherWritesMixin:
    """Every signed-in user may read; only teachers and admins may write."""

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [IsAuthenticated()]
        return [IsTeacher()]


class ExamPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


def _own_session(request, session_id: int):
    session = session_of_student(user=request.user, session_id=session_id)
    if session is None:
        raise ApplicationError("no such session", extra={"code": "not_found"})
    return session


class ChoiceSetField(serializers.ChoiceField):
    """A choice of one of the models' choice sets, documented as that set's one named schema."""

    def __init__(self, choice_set: type[TextChoices], **kwargs):
        self.choice_set = choice_set
        super().__init__(choices=choice_set.choices, **kwargs)


class ChoiceSetFieldExtension(OpenApiSerializerFieldExtension):
    # A set used under several field names (review_score, review_answer...) would otherwise become
    # one enum per name, and the schema generator warns about the duplicates.
    target_class = ChoiceSetField

    def map_serializer_field(self, auto_schema, direction):
        choice_set = self.target.choice_set
        component = ResolvedComponent(
            name=f"{choice_set.__name__}Enum",
            type=ResolvedComponent.SCHEMA,
            object=choice_set,
            schema={
                "type": "string",
                "enum": list(choice_set.values),
                "description": "\n".join(f"* `{value}` - {label}" for value, label in choice_set.choices),
            },
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


# --- schema-only serializers ---------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    extra = serializers.DictField(help_text='e.g. {"code": "time_up"}, {"field": "response"}')


ERROR = OpenApiResponse(ErrorSerializer, description="Refused; `extra` says why (`code`, `field`).")


class ReviewFlagsSerializer(serializers.Serializer):
    score = serializers.BooleanField()
    correctness = serializers.BooleanField()
    answer = serializers.BooleanField()
    explanation = serializers.BooleanField()


class SessionPaperSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    mode = serializers.ChoiceField(choices=PaperMode.choices)
    navigation = serializers.ChoiceField(choices=Navigation.choices)


class KeyViewSerializer(serializers.Serializer):
    answer = serializers.CharField()
    correct_options = serializers.ListField(child=serializers.CharField(), required=False)
    pairs = serializers.ListField(child=serializers.DictField(child=serializers.CharField()), required=False)
    blanks = serializers.ListField(child=serializers.ListField(child=serializers.CharField()), required=False)


class SessionItemViewSerializer(serializers.Serializer):
    """One question of `session_view`. The fields after `saved_at` appear only when the review policy
    (or, in practice mode, checking the question) allows them."""

    position = serializers.IntegerField()
    qtype = ChoiceSetField(QuestionType)
    qtype_label = serializers.CharField()
    stem = serializers.CharField()
    stem_format = serializers.CharField()
    score = serializers.DecimalField(max_digits=6, decimal_places=2)
    options = serializers.ListField(child=serializers.DictField(child=serializers.CharField()), required=False)
    blanks = serializers.IntegerField(required=False)
    lefts = serializers.ListField(child=serializers.CharField(), required=False)
    choices = serializers.ListField(child=serializers.CharField(), required=False)
    gaps = serializers.ListField(child=serializers.DictField(), required=False)
    response = serializers.JSONField(allow_null=True)
    saved_at = serializers.DateTimeField(allow_null=True)
    awarded = serializers.DecimalField(max_digits=6, decimal_places=2, allow_null=True, required=False)
    grade_status = serializers.CharField(required=False)
    feedback = serializers.CharField(required=False)
    feedback_source = serializers.ChoiceField(choices=["model", "teacher"], required=False)
    feedback_version = serializers.CharField(required=False)
    answer_id = serializers.IntegerField(allow_null=True, required=False)
    correct = serializers.BooleanField(allow_null=True, required=False)
    key = KeyViewSerializer(required=False)
    explanation = serializers.CharField(required=False)
    explanation_source = serializers.ChoiceField(choices=["model", "bank"], required=False)
    explanation_version = serializers.CharField(required=False)
    general_feedback = serializers.CharField(required=False)


class SessionHeadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    paper = SessionPaperSerializer()
    number = serializers.IntegerField()
    state = serializers.ChoiceField(choices=SessionState.choices)
    started_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField(allow_null=True)
    seconds_left = serializers.IntegerField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    current_position = serializers.IntegerField()
    max_score = serializers.DecimalField(max_digits=8, decimal_places=2)
    review = ReviewFlagsSerializer()
    score = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True, required=False)
    pending_count = serializers.IntegerField(required=False)


class SessionViewSerializer(SessionHeadSerializer):
    """What `quizbank.selectors.exams.session_view` returns; responses carry its dict as is."""

    items = SessionItemViewSerializer(many=True)


class SessionSummarySerializer(SessionHeadSerializer):
    question_count = serializers.IntegerField()
    answered_count = serializers.IntegerField()


def _summary(view: dict) -> dict:
    """A session_view without its questions, for lists."""
    items = view.pop("items")
    return {
        **view,
        "question_count": len(items),
        "answered_count": sum(1 for item in items if item["response"] is not None),
    }


# --- auth ----------------------------------------------------------------------------------


class AuthTokenApi(ObtainAuthToken):
    # The credentials travel in the body: no session is read, so no CSRF token is needed.
    authentication_classes: list = []

    @extend_schema(
        operation_id="auth_token_create",
        tags=["auth"],
        summary="Exchange a username and password for an API token",
        description=(
            "Send the token as `Authorization: Token <token>`. Each call issues a new token (the previous one "
            "stops working); a token expires API_TOKEN_TTL seconds after it was issued (401). Too many failed "
            "sign-ins from one address are refused with 429 and Retry-After."
        ),
        request=AuthTokenSerializer,
        responses={
            200: inline_serializer("AuthTokenResponse", {"token": serializers.CharField()}),
            400: ERROR,
            429: ERROR,
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except serializers.ValidationError:
            wait = signin_wait(request)
            if wait is not None:
                raise Throttled(wait=wait, detail=str(SIGNIN_LOCKED)) from None
            raise
        token = token_rotate(user=serializer.validated_data["user"])
        return Response({"token": token.key})


# --- papers --------------------------------------------------------------------------------


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
    lets the student see scores; `open_session` is the attempt they can resume."""

    question_count = serializers.SerializerMethodField()
    attempts_used = serializers.SerializerMethodField()
    grade = serializers.SerializerMethodField()
    open_session = serializers.SerializerMethodField()

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
        finished = [session for session in paper.own_sessions if session.state == SessionState.FINISHED]
        # The grade is a score: shown only once the review policy shows this paper's scores.
        if not finished or not review_visibility(finished[-1]).score:
            return None
        grade = paper_grade(paper=paper, user=self.context["request"].user)
        return None if grade is None else str(grade)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_open_session(self, paper: Paper):
        return next((session.pk for session in paper.own_sessions if session.is_open), None)


def _student_papers(user):
    """The papers a student may see, each with the student's own attempts (`own_sessions`)."""
    return (
        papers_for_student(user=user)
        .annotate(item_count=Count("items"))
        .prefetch_related(
            "rules",
            Prefetch("sessions", queryset=sessions_of_student(user=user).order_by("number"), to_attr="own_sessions"),
        )
    )


def _teacher_papers():
    return (
        Paper.objects.select_related("subject").annotate(item_count=Count("items")).prefetch_related("rules__subject")
    )


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
            return Response(PaperSerializer(_teacher_papers(), many=True).data)
        cards = PaperCardSerializer(_student_papers(request.user), many=True, context={"request": request})
        return Response(cards.data)

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
            paper = get_object_or_404(_teacher_papers().prefetch_related("items__question"), pk=paper_id)
            return Response(PaperDetailSerializer(paper).data)
        paper = _student_papers(request.user).filter(pk=paper_id).first()
        if paper is None:
            raise ApplicationError("no such paper", extra={"code": "not_found"})
        return Response(PaperCardSerializer(paper, context={"request": request}).data)

    @extend_schema(
        operation_id="papers_update",
        tags=["papers"],
        summary="Change a paper's settings (its questions stay pinned)",
        request=PaperSettingsInputSerializer,
        responses={200: PaperDetailSerializer, 400: ERROR, 404: ERROR},
    )
    def patch(self, request, paper_id: int):
        paper = get_object_or_404(Paper, pk=paper_id)
        serializer = PaperSettingsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        paper = paper_update(paper=paper, **serializer.validated_data)
        return Response(PaperDetailSerializer(paper).data)


# --- sessions ------------------------------------------------------------------------------


class SessionStartApi(APIView):
    @extend_schema(
        operation_id="sessions_start",
        tags=["sessions"],
        summary="Start an attempt, or resume the one already open",
        description=(
            "New attempts at papers allowing any number of them are limited per user (THROTTLE_RATES "
            "`attempt`; 429 with Retry-After): each may queue model grading."
        ),
        request=None,
        responses={
            201: OpenApiResponse(SessionViewSerializer, description="A new attempt."),
            200: OpenApiResponse(SessionViewSerializer, description="The open attempt, resumed."),
            403: ERROR,
            404: ERROR,
            409: ERROR,
            429: ERROR,
        },
    )
    def post(self, request, paper_id: int):
        paper = paper_for_student(user=request.user, paper_id=paper_id)
        if paper is None:
            raise ApplicationError("no such paper", extra={"code": "not_found"})
        if paper.attempts_allowed == 0 and session_open_of(user=request.user, paper=paper) is None:
            wait = throttle_hit(scope="attempt", ident=request_ident(request))
            if wait is not None:
                raise Throttled(wait=wait)
        now = timezone.now()
        session = session_start(user=request.user, paper=paper, now=now)
        created = session.started_at == now  # a resumed attempt started earlier
        return Response(
            session_view(session, now=now), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class SessionFilterSerializer(serializers.Serializer):
    paper = serializers.IntegerField(required=False, help_text="only the attempts at this paper")


class SessionListApi(APIView):
    @extend_schema(
        operation_id="sessions_list",
        tags=["sessions"],
        summary="The user's own attempts, newest first, without their questions",
        parameters=[SessionFilterSerializer],
        responses=SessionSummarySerializer(many=True),
    )
    def get(self, request):
        filters = SessionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        sessions = sessions_of_student(user=request.user)
        if "paper" in filters.validated_data:
            sessions = sessions.filter(paper_id=filters.validated_data["paper"])
        now = timezone.now()
        return Response([_summary(session_view(session, now=now)) for session in sessions])


class SessionDetailApi(APIView):
    @extend_schema(
        operation_id="sessions_retrieve",
        tags=["sessions"],
        summary="One of the user's attempts, as the review policy lets them see it now",
        responses={200: SessionViewSerializer, 404: ERROR},
    )
    def get(self, request, session_id: int):
        # An attempt whose time is up is closed by its overdue rule before it is shown.
        session = session_expire_if_due(session=_own_session(request, session_id))
        return Response(session_view(session))


class AnswerSaveInputSerializer(serializers.Serializer):
    response = serializers.JSONField(help_text='By type: "B", ["A","C"], "true", ["blank 1","blank 2"], {left: right}…')
    client_seq = serializers.IntegerField(
        min_value=0, required=False, default=0, help_text="the client's save counter: an older save never wins"
    )


class AnswerSavedSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    saved_at = serializers.DateTimeField()
    client_seq = serializers.IntegerField(help_text="the stored save's counter (higher than sent: a newer save won)")
    item = SessionItemViewSerializer(required=False, help_text="practice mode only: the checked question")


class SessionAnswerSaveApi(APIView):
    @extend_schema(
        operation_id="sessions_answer_save",
        tags=["sessions"],
        summary="Save (autosave) the answer to one question",
        description="Refused after the deadline with 409 and `extra.code` `time_up`; a response the question "
        "cannot take is refused with 400 and `extra.field` `response`.",
        request=AnswerSaveInputSerializer,
        responses={200: AnswerSavedSerializer, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def put(self, request, session_id: int, position: int):
        serializer = AnswerSaveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = session_answer_save(
            user=request.user, session_id=session_id, position=position, **serializer.validated_data
        )
        body = {"position": position, "saved_at": answer.updated_at.isoformat(), "client_seq": answer.client_seq}
        session = answer.session  # the locked session the service saved into
        if session.paper.mode == PaperMode.PRACTICE:
            body["item"] = next(item for item in session_view(session)["items"] if item["position"] == position)
        return Response(body)


class SessionAdvanceApi(APIView):
    @extend_schema(
        operation_id="sessions_advance",
        tags=["sessions"],
        summary="Sequential navigation: move on to the next question (there is no way back)",
        request=None,
        responses={200: SessionViewSerializer, 404: ERROR, 409: ERROR},
    )
    def post(self, request, session_id: int):
        return Response(session_view(session_advance(user=request.user, session_id=session_id)))


class SessionFinishApi(APIView):
    @extend_schema(
        operation_id="sessions_finish",
        tags=["sessions"],
        summary="Submit the attempt (finishing twice returns the finished attempt)",
        request=None,
        responses={200: SessionViewSerializer, 404: ERROR, 409: ERROR},
    )
    def post(self, request, session_id: int):
        return Response(session_view(session_finish(user=request.user, session_id=session_id)))


class SessionReviewApi(APIView):
    @extend_schema(
        operation_id="sessions_review",
        tags=["sessions"],
        summary="The review of a closed attempt, as far as the review policy allows now",
        responses={200: SessionViewSerializer, 404: ERROR, 409: ERROR},
    )
    def get(self, request, session_id: int):
        session = session_expire_if_due(session=_own_session(request, session_id))
        if session.is_open:
            raise ApplicationError("the review opens once the attempt is submitted", extra={"code": "session_open"})
        return Response(session_view(session))


# --- results and grading (teachers) --------------------------------------------------------


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class PaperRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class ResultSessionSerializer(serializers.ModelSerializer):
    user = UserRefSerializer()

    class Meta:
        model = QuizSession
        fields = [
            "id",
            "user",
            "number",
            "state",
            "started_at",
            "deadline",
            "finished_at",
            "finished_by",
            "score",
            "max_score",
            "pending_count",
        ]


class StudentGradeSerializer(serializers.Serializer):
    user = UserRefSerializer()
    attempts = serializers.IntegerField()
    grade = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)


class PaperResultsSerializer(serializers.Serializer):
    paper = PaperRefSerializer()
    sessions = ResultSessionSerializer(many=True)
    grades = StudentGradeSerializer(many=True, help_text="each student's grade by the paper's grading method")


def _grades(paper: Paper, sessions) -> list[dict]:
    students: dict[int, dict] = {}
    for session in sessions:
        entry = students.setdefault(session.user_id, {"user": session.user, "attempts": 0})
        entry["attempts"] += 1
    return [{**entry, "grade": paper_grade(paper=paper, user=entry["user"])} for entry in students.values()]


class PaperResultsApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(
        operation_id="papers_results",
        tags=["grading"],
        summary="Every attempt at a paper, and each student's grade",
        responses={200: PaperResultsSerializer, 404: ERROR},
    )
    def get(self, request, paper_id: int):
        paper = get_object_or_404(Paper, pk=paper_id)
        sessions = list(paper_sessions(paper=paper))
        results = {"paper": paper, "sessions": sessions, "grades": _grades(paper, sessions)}
        return Response(PaperResultsSerializer(results).data)


class ItemStatisticsSerializer(serializers.Serializer):
    question_id = serializers.IntegerField()
    position = serializers.IntegerField(allow_null=True)
    stem = serializers.CharField()
    qtype = ChoiceSetField(QuestionType)
    attempts = serializers.IntegerField()
    max_mark = serializers.DecimalField(max_digits=6, decimal_places=2)
    mean_mark = serializers.FloatField(allow_null=True)
    facility = serializers.FloatField(allow_null=True, help_text="mean mark / max mark")
    discrimination = serializers.FloatField(
        allow_null=True, help_text="correlation of the question's mark with the rest of the test"
    )
    flagged = serializers.BooleanField(help_text="negative discrimination: the item needs a look")


class PaperStatisticsSerializer(serializers.Serializer):
    paper = PaperRefSerializer()
    items = ItemStatisticsSerializer(many=True)


class PaperStatisticsApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(
        operation_id="papers_statistics",
        tags=["grading"],
        summary="Facility and discrimination of each question over finished attempts",
        responses={200: PaperStatisticsSerializer, 404: ERROR},
    )
    def get(self, request, paper_id: int):
        paper = get_object_or_404(Paper, pk=paper_id)
        return Response(PaperStatisticsSerializer({"paper": paper, "items": item_statistics(paper=paper)}).data)


class GradingQuestionSerializer(serializers.ModelSerializer):
    qtype = ChoiceSetField(QuestionType, read_only=True)

    class Meta:
        model = Question
        fields = ["id", "qtype", "stem", "stem_format", "answer", "answer_data", "explanation", "score"]


class GradingItemSerializer(serializers.ModelSerializer):
    session = serializers.IntegerField(source="session_id")
    paper = PaperRefSerializer(source="session.paper")
    user = UserRefSerializer()
    position = serializers.IntegerField(source="item.position", allow_null=True)
    question = GradingQuestionSerializer()

    class Meta:
        model = Answer
        fields = [
            "id",
            "session",
            "paper",
            "user",
            "position",
            "question",
            "response",
            "response_data",
            "score",
            "max_score",
            "grade_status",
            "grade_detail",
            "grading_criteria",
            "grading_confidence",
            "grading_model_version",
            "grading_error",
            "submitted_at",
            "updated_at",
        ]


class GradingFilterSerializer(serializers.Serializer):
    paper = serializers.PrimaryKeyRelatedField(
        queryset=Paper.objects.all(), required=False, help_text="only this paper's answers"
    )


class GradingQueueApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(
        operation_id="grading_queue",
        tags=["grading"],
        summary="Answers of submitted attempts still to be graded, oldest first",
        parameters=[
            GradingFilterSerializer,
            OpenApiParameter("limit", int, description="page size (default 50)"),
            OpenApiParameter("offset", int),
        ],
        responses=inline_serializer(
            "GradingQueuePage",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": GradingItemSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        filters = GradingFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = ExamPagination()
        page = paginator.paginate_queryset(grading_queue(**filters.validated_data), request, view=self)
        return paginator.get_paginated_response(GradingItemSerializer(page, many=True).data)


class AnswerGradeInputSerializer(serializers.Serializer):
    score = serializers.DecimalField(max_digits=6, decimal_places=2, help_text="0 to the answer's maximum")
    feedback = serializers.CharField(required=False, allow_blank=True, default="", max_length=20_000)


class GradedSessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = QuizSession
        fields = ["id", "state", "score", "max_score", "pending_count"]


class GradedAnswerSerializer(serializers.ModelSerializer):
    session = GradedSessionSerializer(allow_null=True)

    class Meta:
        model = Answer
        fields = [
            "id",
            "score",
            "max_score",
            "is_correct",
            "grade_status",
            "feedback",
            "graded_by",
            "graded_at",
            "original_score",
            "original_status",
            "session",
        ]


class AnswerGradeApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(
        operation_id="answers_grade",
        tags=["grading"],
        summary="Grade or override one answer; the attempt's score follows",
        request=AnswerGradeInputSerializer,
        responses={200: GradedAnswerSerializer, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request, answer_id: int):
        serializer = AnswerGradeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = answer_grade(answer_id=answer_id, grader=request.user, **serializer.validated_data)
        if answer.session_id:
            answer.session.refresh_from_db()  # the service re-summed the attempt through another instance
        return Response(GradedAnswerSerializer(answer).data)


# --- wrong-answer book ---------------------------------------------------------------------


class WrongBookQuestionSerializer(serializers.ModelSerializer):
    subject = serializers.SlugRelatedField(slug_field="path", read_only=True)
    qtype = ChoiceSetField(QuestionType, read_only=True)

    class Meta:
        model = Question
        fields = ["id", "subject", "qtype", "stem", "stem_format"]


class WrongBookEntrySerializer(serializers.ModelSerializer):
    question = WrongBookQuestionSerializer()

    class Meta:
        model = WrongBookEntry
        fields = [
            "id",
            "question",
            "times_wrong",
            "right_streak",
            "first_wrong_at",
            "last_wrong_at",
            "last_response",
            "mastered_at",
        ]


class WrongBookFilterSerializer(serializers.Serializer):
    include_mastered = serializers.BooleanField(required=False, default=False)


class WrongBookApi(APIView):
    @extend_schema(
        operation_id="wrong_book_list",
        tags=["wrong-book"],
        summary="The user's wrong-answer book (unmastered entries unless include_mastered)",
        parameters=[WrongBookFilterSerializer],
        responses=WrongBookEntrySerializer(many=True),
    )
    def get(self, request):
        filters = WrongBookFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        entries = wrong_book_of(user=request.user, **filters.validated_data)
        return Response(WrongBookEntrySerializer(entries, many=True).data)


class WrongBookPracticeApi(APIView):
    @extend_schema(
        operation_id="wrong_book_practice",
        tags=["wrong-book"],
        summary="Practise the wrong-answer book: the unfinished practice attempt (200), else a new one (201)",
        description=(
            "New practice papers are limited per user (THROTTLE_RATES `wrong_book_practice`; 429 with "
            "Retry-After); resuming the unfinished one is not."
        ),
        request=None,
        responses={200: SessionViewSerializer, 201: SessionViewSerializer, 409: ERROR, 429: ERROR},
    )
    def post(self, request):
        if wrong_book_practice_open(user=request.user) is None:  # only a new paper counts
            wait = throttle_hit(scope="wrong_book_practice", ident=request_ident(request))
            if wait is not None:
                raise Throttled(wait=wait)
        session, created = wrong_book_practice_start(user=request.user)
        return Response(session_view(session), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
