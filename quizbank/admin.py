from django.contrib import admin

from quizbank.models import Answer, Paper, PaperQuestion, Question, Subject


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ["path"]
    search_fields = ["path"]


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["id", "subject", "qtype", "stem", "answer", "source_dataset"]
    list_filter = ["qtype", "subject"]
    search_fields = ["stem"]


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
