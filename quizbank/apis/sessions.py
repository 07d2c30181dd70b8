"""/api/v1/sessions and /api/v1/papers/<id>/sessions: a student's attempts.

A student learns about a session only through `session_view`, which applies the review policy.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import ApplicationError
from core.throttling import request_ident, throttle_hit
from quizbank.apis.common import ERROR, ChoiceSetField
from quizbank.models import Navigation, PaperMode, QuestionType, QuizSession, SessionState
from quizbank.selectors.exams import (
    attempts_at,
    paper_for_student,
    session_of_student,
    session_summaries,
    session_view,
    slots_taken,
)
from quizbank.services import (
    session_advance,
    session_answer_save,
    session_answers_save,
    session_expire_if_due,
    session_finish,
    session_start,
)


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
    """What `quizbank.selectors.exams.session_summaries` returns for each attempt."""

    question_count = serializers.IntegerField()
    answered_count = serializers.IntegerField()


def _own_session(request, session_id: int) -> QuizSession:
    session = session_of_student(user=request.user, session_id=session_id)
    if session is None:
        raise ApplicationError("no such session", extra={"code": "not_found"})
    return session


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
        attempts = attempts_at(user=request.user, paper=paper)
        if paper.attempts_allowed == 0 and attempts.open is None:
            wait = throttle_hit(scope="attempt", ident=request_ident(request))
            if wait is not None:
                raise Throttled(wait=wait)
        now = timezone.now()
        session = session_start(user=request.user, paper=paper, now=now, attempts=attempts)
        created = session.started_at == now  # a resumed attempt started earlier
        return Response(
            session_view(session, now=now, slots=slots_taken(session)),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
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
        return Response(session_summaries(user=request.user, paper_id=filters.validated_data.get("paper")))


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
        session = answer.session  # the locked session the service saved into
        views = None
        if session.paper.mode == PaperMode.PRACTICE:
            views = {item["position"]: item for item in session_view(session)["items"]}
        return Response(_saved_body(answer, position, views))


class AnswerBatchEntrySerializer(AnswerSaveInputSerializer):
    position = serializers.IntegerField(min_value=1)


# More answers than any paper has questions is not an autosave.
ANSWER_BATCH_LIMIT = 200


class AnswerBatchInputSerializer(serializers.Serializer):
    answers = AnswerBatchEntrySerializer(many=True, allow_empty=False, max_length=ANSWER_BATCH_LIMIT)


class AnswerRefusedSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    message = serializers.CharField()
    extra = serializers.DictField()


class AnswerBatchSavedSerializer(serializers.Serializer):
    saved = AnswerSavedSerializer(many=True)
    refused = AnswerRefusedSerializer(many=True, help_text="answers refused on their own; the others are saved")


def _saved_body(answer, position: int, views: dict[int, dict] | None = None) -> dict:
    body = {"position": position, "saved_at": answer.updated_at.isoformat(), "client_seq": answer.client_seq}
    if views is not None:
        body["item"] = views[position]
    return body


class SessionAnswersSaveApi(APIView):
    @extend_schema(
        operation_id="sessions_answers_save",
        tags=["sessions"],
        summary="Save (autosave) several answers at once: every answer changed in the last moment",
        description="Each answer is saved as `sessions_answer_save` would save it alone, `client_seq` "
        "included; one refused on its own (400 or 409 for that answer) is listed in `refused` and the "
        f"others are saved. At most {ANSWER_BATCH_LIMIT} answers. The whole request is refused (409 "
        "`time_up` or `not_open`, 404) when the attempt takes no answers.",
        request=AnswerBatchInputSerializer,
        responses={200: AnswerBatchSavedSerializer, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def put(self, request, session_id: int):
        serializer = AnswerBatchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcomes = session_answers_save(
            user=request.user, session_id=session_id, answers=serializer.validated_data["answers"]
        )
        saved = [outcome for outcome in outcomes if outcome.answer is not None]
        views = None
        if saved and saved[0].answer.session.paper.mode == PaperMode.PRACTICE:
            views = {item["position"]: item for item in session_view(saved[-1].answer.session)["items"]}
        return Response(
            {
                "saved": [_saved_body(outcome.answer, outcome.position, views) for outcome in saved],
                "refused": [
                    {"position": outcome.position, "message": outcome.refusal.message, "extra": outcome.refusal.extra}
                    for outcome in outcomes
                    if outcome.refusal is not None
                ],
            }
        )


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
        session = session_finish(user=request.user, session_id=session_id)
        return Response(session_view(session, slots=slots_taken(session)))


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
