from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.urls import reverse

from quizbank.models import (
    Answer,
    BankShare,
    Enrolment,
    ImportJob,
    KnowledgePoint,
    MappingProfile,
    Paper,
    PaperAssignment,
    PaperQuestion,
    PaperShare,
    Question,
    SchoolClass,
    Subject,
    Tag,
)
from quizbank.services import subject_get_or_create


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ["path", "owner"]
    search_fields = ["path"]


@admin.register(Tag, KnowledgePoint)
class NameAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class QuestionActionForm(ActionForm):
    value = forms.CharField(required=False, label="tag / subject path")


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    """Questions are read here and written in the question editor (/teach/questions/), where every edit
    goes through question_update: a question in use is edited as a new version, never in place. Tags and
    subjects, which no attempt shows, may still be changed in bulk by the actions below."""

    list_display = [
        "id",
        "subject",
        "qtype",
        "short_stem",
        "answer",
        "difficulty",
        "source_dataset",
        "version",
        "is_current",
    ]
    list_filter = ["qtype", "difficulty", "is_current", "source_dataset", "source_licence", "subject"]
    search_fields = ["stem", "explanation", "source_file"]
    autocomplete_fields = ["tags", "knowledge_points"]
    raw_id_fields = ["root"]
    readonly_fields = ["content_hash", "root", "version", "created_at", "updated_at"]
    action_form = QuestionActionForm
    actions = ["add_tag", "move_to_subject"]

    @admin.display(description="stem")
    def short_stem(self, question: Question) -> str:
        return question.stem[:60]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        editor = reverse("question-editor", args=[object_id]) if str(object_id).isdigit() else ""
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "editor_url": editor})

    @admin.action(description="Add the tag typed below")
    def add_tag(self, request, queryset):
        name = request.POST.get("value", "").strip()
        if not name:
            self.message_user(request, "Type a tag name first.", messages.ERROR)
            return
        tag, _ = Tag.objects.get_or_create(name=name)
        for question in queryset:
            question.tags.add(tag)
        self.message_user(request, f"Tagged {queryset.count()} questions with {name!r}.")

    @admin.action(description="Move to the subject path typed below")
    def move_to_subject(self, request, queryset):
        path = request.POST.get("value", "").strip()
        if not path:
            self.message_user(request, "Type a subject path (e.g. 数学/函数) first.", messages.ERROR)
            return
        moved = queryset.update(subject=subject_get_or_create(path=path))
        self.message_user(request, f"Moved {moved} questions to {path}.")


class PaperQuestionInline(admin.TabularInline):
    model = PaperQuestion
    raw_id_fields = ["question"]


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin):
    inlines = [PaperQuestionInline]


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "question", "response", "is_correct", "explanation_source", "submitted_at"]
    list_filter = ["is_correct", "explanation_source"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "file_name", "status", "rows_read", "created_by", "created_at"]
    list_filter = ["status"]


class EnrolmentInline(admin.TabularInline):
    model = Enrolment
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(SchoolClass)
class SchoolClassAdmin(admin.ModelAdmin):
    """Classes; the teachers' pages (/teach/classes/) enrol rosters and hand out one-time passwords."""

    list_display = ["name", "code", "owner", "created_at"]
    search_fields = ["name", "code"]
    readonly_fields = ["code"]
    inlines = [EnrolmentInline]


@admin.register(PaperAssignment)
class PaperAssignmentAdmin(admin.ModelAdmin):
    """Read here; a paper is given to a class on its page, where the attempts in progress follow a change."""

    list_display = ["paper", "school_class", "open_at", "close_at", "time_limit_seconds"]
    list_filter = ["school_class"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BankShare, PaperShare)
class ShareAdmin(admin.ModelAdmin):
    list_display = ["__str__", "teacher", "level"]
    list_filter = ["level"]


@admin.register(MappingProfile)
class MappingProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "created_by", "created_at"]
