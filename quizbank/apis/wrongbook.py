"""/api/v1/wrong-book: a student's mistakes, and practising them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttling import request_ident, throttle_hit
from quizbank.apis.common import ERROR, ChoiceSetField
from quizbank.apis.sessions import SessionViewSerializer
from quizbank.models import Question, QuestionType, WrongBookEntry
from quizbank.selectors.exams import session_view, wrong_book_of, wrong_book_practice_open
from quizbank.services import wrong_book_practice_start


class WrongBookQuestionSerializer(serializers.ModelSerializer):
    subject = serializers.SlugRelatedField(slug_field="path", read_only=True)
    qtype = ChoiceSetField(QuestionType, read_only=True)

    class Meta:
        model = Question
        fields = ["id", "subject", "qtype", "stem", "stem_format"]


class WrongBookEntrySerializer(serializers.ModelSerializer):
    """One entry of `quizbank.selectors.exams.wrong_book_of`, which loads its question and subject."""

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
