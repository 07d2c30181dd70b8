"""The mapping page: a file no importer knows, read through a mapping the teacher checks first.

The page proposes a mapping (a saved one that fits the file, else one guessed from its first records),
lists the first record's fields, previews the first questions, saves the mapping under a name, and
imports with it. Teachers and admins only, like the import page.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from core.exceptions import ApplicationError
from quizbank.models import MappingProfile
from quizbank.services.mapping_imports import (
    StagedUpload,
    mapping_check,
    mapping_import_start,
    mapping_preview,
    mapping_profile_save,
    mapping_propose,
    staged_upload,
)
from quizbank.views import teacher_required

ACTIONS = ("use_profile", "preview", "save", "import")


class MappingForm(forms.Form):
    upload = forms.CharField(widget=forms.HiddenInput)
    profile = forms.ModelChoiceField(
        queryset=MappingProfile.objects.all(),
        to_field_name="name",
        required=False,
        label=gettext_lazy("Saved mapping"),
        empty_label=gettext_lazy("(none)"),
    )
    mapping = forms.CharField(
        label=gettext_lazy("Mapping (JSON)"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "cols": 80, "spellcheck": "false", "class": "mapping-json"}),
    )
    subject = forms.CharField(
        required=False, label=gettext_lazy("Default subject (for questions whose record names none)")
    )
    skip_invalid = forms.BooleanField(required=False, label=gettext_lazy("Skip rows with errors, import the rest"))
    profile_name = forms.CharField(required=False, max_length=100, label=gettext_lazy("Save the mapping as"))


def _as_text(mapping: dict) -> str:
    return json.dumps(mapping, ensure_ascii=False, indent=2)


@login_required
@teacher_required
@require_http_methods(["GET", "POST"])
def bank_import_mapping(request):
    token = request.POST.get("upload") or request.GET.get("upload", "")
    upload = staged_upload(token=token)
    if upload is None:
        messages.error(
            request, _("The uploaded file is no longer here (it was imported, or kept too long): upload it again.")
        )
        return redirect("bank-import")
    proposal = mapping_propose(path=upload.path)
    if request.method == "GET":
        initial = {
            "upload": upload.token,
            "mapping": _as_text(proposal.mapping),
            "profile": proposal.profile,
            "subject": request.GET.get("subject", ""),
        }
        return _render(request, MappingForm(initial=initial), upload, proposal)
    form = MappingForm(request.POST)
    action = request.POST.get("action", "preview")
    if action not in ACTIONS or not form.is_valid():
        return _render(request, form, upload, proposal, status=400)
    return _act(request, action, form, upload, proposal)


def _act(request, action: str, form: MappingForm, upload: StagedUpload, proposal):
    data = form.cleaned_data
    if action == "use_profile":
        if data["profile"] is None:
            form.add_error("profile", _("Choose a saved mapping first."))
            return _render(request, form, upload, proposal, status=400)
        form = MappingForm({**form.data.dict(), "mapping": _as_text(data["profile"].mapping)})
        form.is_valid()
        data = form.cleaned_data
    try:
        mapping = mapping_check(mapping=data["mapping"])
        if action == "import":
            job = mapping_import_start(
                upload=upload,
                mapping=mapping,
                created_by=request.user,
                subject=data["subject"],
                skip_invalid=data["skip_invalid"],
            )
            return redirect("bank-import-status", job_id=job.pk)
        if action == "save":
            profile = mapping_profile_save(name=data["profile_name"], mapping=mapping, created_by=request.user)
            messages.success(request, _("The mapping is saved as “%(name)s”.") % {"name": profile.name})
            form = MappingForm({**form.data.dict(), "profile": profile.name, "profile_name": ""})
            form.is_valid()
    except ApplicationError as exc:
        form.add_error(exc.extra.get("field", "mapping"), exc.message)
        return _render(request, form, upload, proposal, status=400)
    preview = mapping_preview(path=upload.path, mapping=mapping, subject=data["subject"])
    return _render(request, form, upload, proposal, preview=preview)


def _render(request, form, upload: StagedUpload, proposal, *, preview=None, status: int = 200):
    context = {
        "form": form,
        "file_name": upload.path.name,
        "proposal": proposal,
        "preview": preview,
        "profiles_exist": MappingProfile.objects.exists(),
    }
    return render(request, "quizbank/bank_import_mapping.html", context, status=status)
