"""The question editor: teachers write and edit questions of every type in the browser, with a live
preview of the text (Markdown, LaTeX) and images uploaded into it; and the images themselves, served
to anyone signed in.

Every save goes through question_create / question_update: an edit of a question that a paper, an
attempt or an answer uses becomes its next version, and what they show stays as it was."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.exceptions import ApplicationError
from quizbank.editor_forms import STEM_FORMATS, TYPE_FIELDS, TYPED_FIELDS, QuestionEditorForm, editor_initial
from quizbank.images import image_url
from quizbank.markup import text_html
from quizbank.models import AccessLevel, Question
from quizbank.selectors.access import question_for_teacher
from quizbank.selectors.images import question_image_by_name
from quizbank.selectors.questions import question_current_version
from quizbank.services import question_create, question_update, subject_get_or_create
from quizbank.services.images import question_image_create
from quizbank.teacher_views import teacher_required

PREVIEW_MAX_CHARS = 20_000
# What an SVG may do when opened on its own: draw, with its own inline styles; nothing else.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
_RECORD_FIELDS = {"type": "qtype", "stem": "stem", "subject": "subject", "score": "score"}


def _form_errors(form: QuestionEditorForm, error: ApplicationError) -> None:
    """A refusal of the service, shown at the field it names (the key's field for the question's type)."""
    qtype = form.cleaned_data.get("qtype", "")
    typed = TYPE_FIELDS.get(qtype, ())
    found = error.extra.get("errors") or [{"field": error.extra.get("field", ""), "message": error.message}]
    for item in found:
        name = _RECORD_FIELDS.get(item["field"], item["field"])
        if name in ("answer", "options") and name not in typed:
            name = typed[0] if typed else ""
        form.add_error(name if name in form.fields else None, item["message"])


def _editor_page(request, form: QuestionEditorForm, question: Question | None):
    context = {
        "form": form,
        "question": question,
        "common_fields": [form[name] for name in ("subject", "qtype", "score", "difficulty")],
        "typed_fields": [
            {"field": form[name], "types": " ".join(qtype for qtype, names in TYPE_FIELDS.items() if name in names)}
            for name in TYPED_FIELDS
        ],
        "after_fields": [form[name] for name in ("explanation", "general_feedback", "tags", "knowledge_points")],
    }
    return render(request, "quizbank/question_editor.html", context, status=400 if form.errors else 200)


@teacher_required
@require_http_methods(["GET", "POST"])
def question_editor_new(request):
    form = QuestionEditorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.question_data()
        try:
            # a new bank is the teacher's; another teacher's bank needs their edit share
            subject_get_or_create(path=data["subject"], owner=request.user)
            question = question_create(data=data)
        except ApplicationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Question #%(id)s saved.") % {"id": question.pk})
            return redirect("question-editor", question_id=question.pk)
    return _editor_page(request, form, None)


@teacher_required
@require_http_methods(["GET", "POST"])
def question_editor(request, question_id: int):
    question = get_object_or_404(Question.objects.select_related("subject"), pk=question_id)
    current = question_current_version(question=question)
    if current is None:
        raise Http404("no version of this question is current")
    if current.pk != question.pk:
        return redirect("question-editor", question_id=current.pk)
    question_for_teacher(user=request.user, question=question, level=AccessLevel.EDIT)
    if request.method == "POST":
        form = QuestionEditorForm(request.POST, base=question)
    else:
        form = QuestionEditorForm(initial=editor_initial(question), base=question)
    if request.method == "POST" and form.is_valid():
        data = form.question_data()
        try:
            subject_get_or_create(path=data["subject"], owner=request.user)
            saved = question_update(question=question, data=data)
        except ApplicationError as exc:
            _form_errors(form, exc)
        else:
            if saved.pk != question.pk:
                note = _("Saved as version %(version)s: papers and attempts that use the earlier version keep it.")
                messages.success(request, note % {"version": saved.version})
            else:
                messages.success(request, _("Question #%(id)s saved.") % {"id": saved.pk})
            return redirect("question-editor", question_id=saved.pk)
    return _editor_page(request, form, question)


@teacher_required
@require_POST
def question_preview(request):
    """The text as the pages will show it (Markdown rendered and sanitised); the page typesets the LaTeX."""
    text = request.POST.get("text", "")[:PREVIEW_MAX_CHARS]
    text_format = request.POST.get("format", "plain")
    if text_format not in dict(STEM_FORMATS):
        text_format = "plain"
    return JsonResponse({"html": str(text_html(text, text_format))})


@teacher_required
@require_POST
def question_image_upload(request):
    """A teacher's image for question text: stored, and the address to put in the text."""
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"message": _("Choose an image file.")}, status=400)
    try:
        image = question_image_create(
            data=upload.read(settings.QUESTION_IMAGE_MAX_BYTES + 1),  # one byte over is enough to refuse
            name=upload.name or "",
            content_type=upload.content_type or "",
            uploaded_by=request.user,
        )
    except ApplicationError as exc:
        return JsonResponse({"message": exc.message, "extra": exc.extra}, status=400)
    url = image_url(image.file.name)
    return JsonResponse({"url": url, "markdown": f"![]({url})", "html": f'<img src="{url}" alt="">'}, status=201)


@login_required
@require_GET
def question_image(request, name: str):
    """A stored question image, read through the storage API, as what it is and nothing else."""
    image = question_image_by_name(name=name)
    if image is None:
        raise Http404("no such image")
    try:
        handle = default_storage.open(image.file.name, "rb")
    except OSError as exc:
        raise Http404("the image's file is missing") from exc
    response = FileResponse(handle, content_type=image.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=31536000, immutable"  # the name is the content's hash
    if image.content_type == "image/svg+xml":
        response["Content-Security-Policy"] = SVG_POLICY
    return response
