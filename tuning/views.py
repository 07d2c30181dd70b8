"""Admin pages for tuning: start a run, follow it, compare and promote versions."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, user_passes_test
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.exceptions import ApplicationError
from quizbank.roles import is_admin
from tuning.models import ModelVersion, RunStatus, TuningRun, VersionState
from tuning.selectors import loss_curve_svg, run_checkpoints, run_loss_points, run_progress, version_comparison
from tuning.services import run_cancel, run_create, run_resume, version_promote

admin_required = user_passes_test(is_admin)

# The advice of tuning/training/config.py:ADVICE, in the page's language (a test keeps the English
# identical to it).
HELP = {
    "lora_rank": gettext_lazy("LoRA rank 8–64: 8 for simple tasks, 16 or more for complex ones"),
    "lora_alpha": gettext_lazy("alpha should be an integer multiple of the rank (rank 8 → alpha 16)"),
    "learning_rate": gettext_lazy(
        "learning rate 1e-5–5e-4 for LoRA, 1e-6–5e-5 for full fine-tuning, about 5e-5 for freeze"
    ),
    "epochs": gettext_lazy(
        "full fine-tuning 5–10 epochs on millions of samples, early stopping on small data; freeze 3–5 epochs"
    ),
}
# The labels of RunStatus and VersionState (tuning/models.py) on these pages.
RUN_STATUS = {
    RunStatus.VALIDATING: gettext_lazy("Validating"),
    RunStatus.QUEUED: gettext_lazy("Queued"),
    RunStatus.RUNNING: gettext_lazy("Running"),
    RunStatus.SUCCEEDED: gettext_lazy("Succeeded"),
    RunStatus.FAILED: gettext_lazy("Failed"),
    RunStatus.CANCELLED: gettext_lazy("Cancelled"),
}
VERSION_STATE = {
    VersionState.TRAINED: gettext_lazy("Trained, waiting for evaluation"),
    VersionState.EVALUATING: gettext_lazy("Evaluating"),
    VersionState.EVALUATED: gettext_lazy("Evaluated"),
    VersionState.EVALUATION_FAILED: gettext_lazy("Evaluation failed"),
}


class RunForm(forms.Form):
    base = forms.ModelChoiceField(ModelVersion.objects.all(), label=gettext_lazy("Base model"), to_field_name="name")
    method = forms.ChoiceField(
        label=gettext_lazy("Method"),
        choices=[("lora", "LoRA"), ("freeze", gettext_lazy("freeze (partial)")), ("full", gettext_lazy("full"))],
    )
    stage = forms.ChoiceField(
        label=gettext_lazy("Stage"),
        choices=[
            ("sft", gettext_lazy("sft: answers and explanations")),
            ("pt", gettext_lazy("pt: continued pre-training")),
        ],
    )
    split = forms.ChoiceField(
        label=gettext_lazy("Data"),
        choices=[("train", gettext_lazy("train split")), ("all", gettext_lazy("whole bank"))],
    )
    new_data_only = forms.BooleanField(
        required=False, label=gettext_lazy("Only questions added since the base version")
    )
    promote = forms.BooleanField(required=False, label=gettext_lazy("Promote when it is not worse"))
    lora_rank = forms.IntegerField(
        required=False, help_text=HELP["lora_rank"], label=gettext_lazy("LoRA rank (empty: auto)")
    )
    lora_alpha = forms.IntegerField(
        required=False, help_text=HELP["lora_alpha"], label=gettext_lazy("LoRA alpha (empty: auto)")
    )
    learning_rate = forms.FloatField(
        required=False, help_text=HELP["learning_rate"], label=gettext_lazy("Learning rate (empty: auto)")
    )
    num_train_epochs = forms.FloatField(
        required=False, help_text=HELP["epochs"], label=gettext_lazy("Epochs (empty: auto)")
    )


def duration_text(seconds: float) -> str:
    """A time left, in the page's language (to the minute past an hour, to the second below)."""
    seconds = round(seconds)
    if seconds >= 3600:
        return _("%(hours)d h %(minutes)02d min") % {"hours": seconds // 3600, "minutes": seconds % 3600 // 60}
    if seconds >= 60:
        return _("%(minutes)d min %(seconds)02d s") % {"minutes": seconds // 60, "seconds": seconds % 60}
    return _("%(seconds)d s") % {"seconds": seconds}


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
    runs = list(TuningRun.objects.select_related("base_version", "output_version")[:20])
    for run in runs:
        run.status_label = RUN_STATUS.get(run.status, run.status)
    versions = version_comparison()
    for row in versions:
        row["state_label"] = VERSION_STATE.get(row["version"].state, row["version"].state)
    return render(request, "tuning/index.html", {"form": form, "runs": runs, "versions": versions})


@login_required
@admin_required
def tuning_run(request, run_id: int):
    """The run: status, step of max_steps, speed and time left, loss curves, checkpoints and events.
    While it runs, tuning/static/tuning/run.js fetches the page again and swaps in its live part."""
    run = get_object_or_404(TuningRun.objects.select_related("base_version", "output_version"), pk=run_id)
    progress = run_progress(run)
    left = progress["seconds_left"]
    return render(
        request,
        "tuning/run.html",
        {
            "run": run,
            "status_label": RUN_STATUS.get(run.status, run.status),
            "progress": progress,
            "time_left": duration_text(left) if left is not None else "",
            # runs trained before progress was kept on the run have one "progress" event per tick
            "events": run.events.exclude(message="progress").order_by("-id")[:100],
            "checkpoints": run_checkpoints(run),
            "curve": mark_safe(loss_curve_svg(run_loss_points(run))),  # noqa: S308 (numbers and our labels)
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
        version_promote(
            version=get_object_or_404(ModelVersion, name=name),
            force=bool(request.POST.get("force")),
            reason=request.POST.get("reason", ""),
            actor=request.user,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.info(
            request,
            _(
                "%(name)s is now active; the model server switches to it within seconds "
                "(a new server takes about a minute)"
            )
            % {"name": name},
        )
    return redirect("tuning-index")
