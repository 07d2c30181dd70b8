"""Admin pages for tuning: start a run, follow it, compare and promote versions."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, user_passes_test
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import ApplicationError
from quizbank.roles import is_admin
from tuning.admission import estimate_request
from tuning.compute import DEFAULT_POOL
from tuning.models import ComputeWorker, ModelVersion, RunStatus, TuningRun, VersionState
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
        choices=[
            ("lora", "LoRA"),
            ("qlora", gettext_lazy("QLoRA (4-bit base, CUDA only)")),
            ("freeze", gettext_lazy("freeze (partial)")),
            ("full", gettext_lazy("full")),
        ],
    )
    pool = forms.ChoiceField(label=gettext_lazy("Compute pool"), choices=[(DEFAULT_POOL, DEFAULT_POOL)])
    devices = forms.IntegerField(label=gettext_lazy("Devices"), min_value=1, max_value=64, initial=1)
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        pools = {DEFAULT_POOL, *ComputeWorker.objects.values_list("pool", flat=True)}
        self.fields["pool"].choices = [(pool, pool) for pool in sorted(pools)]

    def run_arguments(self) -> tuple[str, dict]:
        """The run's method and settings overrides (qlora is LoRA on a 4-bit base)."""
        data = self.cleaned_data
        overrides = {key: data[key] for key in SETTINGS if data.get(key) is not None}
        if data.get("devices") and data["devices"] > 1:
            overrides["devices"] = data["devices"]
        if data["method"] == "qlora":
            return "lora", {"quantization_bit": 4} | overrides
        return data["method"], overrides


SETTINGS = ("lora_rank", "lora_alpha", "learning_rate", "num_train_epochs")


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
        method, overrides = form.run_arguments()
        try:
            run = run_create(
                method=method,
                stage=data["stage"],
                base_version=data["base"],
                overrides=overrides,
                split=data["split"],
                new_data_only=data["new_data_only"],
                promote=data["promote"],
                created_by=request.user,
                pool=data["pool"],
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
@require_GET
def tuning_estimate(request):
    """The run form's live estimate (tuning/static/tuning/estimate.js asks as the fields change)."""
    form = RunForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"summary": "", "errors": form.errors.get_json_data()}, status=400)
    method, overrides = form.run_arguments()
    if method == "lora" and overrides.pop("quantization_bit", None):
        method = "qlora"
    try:
        found = estimate_request(
            base_version=form.cleaned_data["base"],
            method=method,
            overrides=overrides,
            pool=form.cleaned_data["pool"],
            split=form.cleaned_data["split"],
        )
    except ApplicationError as exc:
        return JsonResponse({"summary": exc.message, "fits": None}, status=400)
    return JsonResponse(found | {"summary": estimate_summary(found)})


def estimate_summary(found: dict) -> str:
    """The estimate in the page's language."""
    text = _("About %(gb).1f GB per device on %(devices)d device(s) (%(params).2fB parameters).") % {
        "gb": found["per_device_gb"],
        "devices": found["devices"],
        "params": found["params"] / 1e9,
    }
    if found["seconds"]:
        text += " " + _("Roughly %(time)s of training.") % {"time": duration_text(found["seconds"])}
    verdict = {
        True: _("It fits pool %(pool)s."),
        False: _("It does not fit pool %(pool)s."),
        None: _("Pool %(pool)s has no live worker to judge by."),
    }[found["fits"]]
    return f"{text} {verdict % {'pool': found['pool']}} {found['why']}"


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
