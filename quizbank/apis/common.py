"""What the API modules share: pagination, the error shape, choice fields and the teacher-writes rule."""

from __future__ import annotations

from django.db.models import TextChoices
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated

from quizbank.roles import IsTeacher


class TeacherWritesMixin:
    """Every signed-in user may read; only teachers and admins may write."""

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [IsAuthenticated()]
        return [IsTeacher()]


class ListPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


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


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    extra = serializers.DictField(help_text='e.g. {"code": "time_up"}, {"field": "response"}')


ERROR = OpenApiResponse(ErrorSerializer, description="Refused; `extra` says why (`code`, `field`).")


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class PaperRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
