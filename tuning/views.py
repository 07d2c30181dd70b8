"""Admin pages for tuning: start a run, follow it, compare and promote versions."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, user_passes_test
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from core.exceptions import ApplicationError
from quizbank.roles import is_admin
from tuning.models import ModelVersion, TuningRun
from tuning.selectors import loss_curve_svg, run_checkpoints, run_loss_points, version_comparison
from tuning.services import run_cancel, run_create, run_resume, version_promote
from tuning.training.config import TuningConfig

admin_required = user_passes_test(is_admin)
HELP = TuningConfig.help_texts()


class RunForm(forms.Form):
    base = forms.ModelChoiceField(ModelVersion.objects.all(), label="base model", to_field_name="name")
    method = forms.ChoiceField(choices=[("lora", "LoRA"), ("freeze", "freeze (partial)"), ("full", "full")])
    stage = forms.ChoiceField(choices=[("sft", "sft: answers and 解析"), ("pt", "pt: continued pre-training")])
    split = forms.ChoiceField(choices=[("train", "train split"), ("all", "whole bank")])
    new_data_only = forms.BooleanField(required=False, label="only questions added since the base version")
    promote = forms.BooleanField(required=False, label="promote when it is not worse")
    lora_rank = forms.IntegerField(required=False, help_text=HELP["lora_rank"], label="lora_rank (empty: auto)")
    lora_alpha = forms.IntegerField(required=False, help_text=HELP["lora_alpha"], label="lora_alpha (empty: auto)")
    learning_rate = forms.FloatField(
        required=False, help_text=HELP["learning_rate"], label="learning_rate (empty: auto)"
    )
    num_train_epochs = forms.FloatField(
        required=False, help_text=HELP["num_train_epochs"], label="epochs (empty: auto)"
    )


@login_required
@admin_required
def tuning_index(request):
    form = RunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        overrides = {
            key: data[key]
            for key in ("lora_rank", "lora_alpha", "learning_rate", "num_train_epochs")
            if data[key] is not None
        }
        try:
            run = run_create(
                method=data["method"],
                stage=data["stage"],
                base_version=data["base"],
                overrides=overrides,
                split=data["split"],
                new_data_only=data["new_data_only"],
                promote=data["promote"],
                created_by=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, f"{exc.message} {exc.extra or ''}")
        else:
            return redirect("tuning-run", run_id=run.pk)
    runs = TuningRun.objects.select_related("base_version", "output_version")[:20]
    return render(request, "tuning/index.html", {"form": form, "runs": runs, "versions": version_comparison()})


@login_required
@admin_required
def tuning_run(request, run_id: int):
    run = get_object_or_404(TuningRun.objects.select_related("base_version", "output_version"), pk=run_id)
    return render(
        request,
        "tuning/run.html",
        {
            "run": run,
            "events": run.events.order_by("-id")[:100],
            "checkpoints": run_checkpoints(run),
            "curve": mark_safe(loss_curve_svg(run_loss_points(run))),  # noqa: S308 (numbers only, built here)
            "running": run.status in ("validating", "queued", "running"),
        },
    )


@login_required
@admin_required
@require_POST
def tuning_run_action(request, run_id: int, action: str):
    run = get_object_or_404(TuningRun, pk=run_id)
    if action not in ("cancel", "resume"):
        raise Http404(f"no action {action!r}")
    try:
        run_cancel(run=run) if action == "cancel" else run_resume(run=run)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("tuning-run", run_id=run.pk)


@login_required
@admin_required
@require_POST
def tuning_promote(request, name: str):
    try:
        version_promote(version=get_object_or_404(ModelVersion, name=name), force=bool(request.POST.get("force")))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.info(
            request,
            f"{name} is now active; the model server switches to it within seconds (a new server takes about a minute)",
        )
    return redirect("tuning-index")
