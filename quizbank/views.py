"""Teacher pages for the bank: browse and filter, upload a file, follow an import, download an export."""

from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required, user_passes_test
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from core.exceptions import ApplicationError
from quizbank.importers.registry import formats
from quizbank.models import ImportJob, QuestionType
from quizbank.roles import is_teacher
from quizbank.selectors import SPLITS, question_search
from quizbank.selectors.access import subjects_reachable
from quizbank.selectors.imports import import_job_rows_read
from quizbank.services import exports, import_job_create_from_text
from quizbank.services.mapping_imports import StagedUpload, import_upload_receive

teacher_required = user_passes_test(is_teacher)
MAPPING_CHOICE = "mapping"  # the format choice that opens the mapping page (quizbank/mapping_views.py)


class BankFilterForm(forms.Form):
    subject = forms.CharField(required=False, label="学科")
    qtype = forms.ChoiceField(required=False, label="题型", choices=[("", "全部"), *QuestionType.choices])
    search = forms.CharField(required=False, label="搜索")


class ImportForm(forms.Form):
    file = forms.FileField(required=False, label="题库文件")
    text = forms.CharField(
        required=False,
        label="或粘贴题目",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80, "placeholder": "1. 题干\nA. 选项\nB. 选项\n答案：A"}),
    )
    format = forms.ChoiceField(required=False, label="格式", choices=[("", "自动识别")])
    subject = forms.CharField(required=False, label="默认学科（如 数学/函数；留空时未写学科的题目放入 未分类/文件名）")
    skip_invalid = forms.BooleanField(required=False, label="跳过有错误的行，导入其余")
    dry_run = forms.BooleanField(required=False, label="只检查，不写入")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["format"].choices = [
            ("", "自动识别"),
            *[(fmt.name, fmt.label) for fmt in formats()],
            (MAPPING_CHOICE, gettext_lazy("Import with a mapping (a layout no importer knows)")),
        ]

    def clean(self):
        data = super().clean()
        pasted = bool(data.get("text", "").strip())
        if bool(data.get("file")) == pasted:
            raise forms.ValidationError("请上传一个文件或粘贴题目（二选一）")
        if pasted and data.get("format") == MAPPING_CHOICE:
            self.add_error("format", gettext_lazy("A mapping reads an uploaded file: upload the file."))
        return data


@login_required
@teacher_required
def bank_index(request):
    form = BankFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    questions = question_search(
        subject=filters.get("subject", ""), qtype=filters.get("qtype", ""), search=filters.get("search", "")
    ).filter(subject__in=subjects_reachable(user=request.user))
    page = Paginator(questions, 50).get_page(request.GET.get("page"))
    return render(request, "quizbank/bank_index.html", {"form": form, "page": page})


@login_required
@teacher_required
def bank_import_page(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        options = {key: data[key] for key in ("subject", "skip_invalid", "dry_run")}
        try:
            if data["file"]:
                use_mapping = data["format"] == MAPPING_CHOICE
                job = import_upload_receive(
                    upload=data["file"],
                    created_by=request.user,
                    fmt="" if use_mapping else data["format"],
                    use_mapping=use_mapping,
                    **options,
                )
                if isinstance(job, StagedUpload):  # no importer knows it, or the teacher asked: the mapping page
                    query = {"upload": job.token, **({"subject": data["subject"]} if data["subject"] else {})}
                    return redirect(f"{reverse('bank-import-mapping')}?{urlencode(query)}")
            else:
                job = import_job_create_from_text(
                    text=data["text"], created_by=request.user, fmt=data["format"], **options
                )
        except ApplicationError as exc:
            form.add_error("file" if data["file"] else "text", exc.message)
        else:
            return redirect("bank-import-status", job_id=job.pk)
    jobs = ImportJob.objects.filter(created_by=request.user)[:10]
    return render(request, "quizbank/bank_import.html", {"form": form, "jobs": jobs})


@login_required
@teacher_required
def bank_import_status(request, job_id: int):
    job = get_object_or_404(ImportJob, pk=job_id)
    job.rows_read = import_job_rows_read(job=job)  # shown, not saved
    return render(request, "quizbank/bank_import_status.html", {"job": job})


EXPORT_CHOICES = [
    ("alpaca", "Alpaca JSON（训练数据）"),
    ("sharegpt", "ShareGPT JSONL + dataset_info.json（训练数据，zip）"),
    ("openai", "OpenAI messages JSONL（训练数据）"),
    ("llamafactory", "LLaMA-Factory 数据集文件夹（训练数据，zip）"),
    ("gift", "Moodle GIFT"),
    ("moodle-xml", "Moodle XML"),
    ("xlsx", "Excel（.xlsx）"),
]


class ExportForm(forms.Form):
    subject = forms.CharField(required=False, label="学科（留空为全部，含下级学科）")
    split = forms.ChoiceField(required=False, label="划分", choices=[(split, split) for split in SPLITS])


@login_required
@teacher_required
@require_GET
def bank_export_page(request):
    """The export form: a subject, a split, and one download button per format."""
    return render(request, "quizbank/bank_export.html", {"form": ExportForm(), "formats": EXPORT_CHOICES})


@login_required
@teacher_required
@require_GET
def bank_export_download(request, fmt: str):
    """The bank in one export format, as export_dataset writes it, as a download."""
    if fmt not in dict(EXPORT_CHOICES):
        raise Http404("no such export format")
    form = ExportForm(request.GET)
    if form.is_valid():
        data = form.cleaned_data
        download, name, count = exports.bank_export_download(
            fmt=fmt, subject=data["subject"], split=data["split"] or "all"
        )
        if count:
            return FileResponse(download, as_attachment=True, filename=name)
        download.close()
        form.add_error(None, "没有符合条件的题目（训练数据不含进行中考试的题目和仅供评测的来源）")
    return render(request, "quizbank/bank_export.html", {"form": form, "formats": EXPORT_CHOICES}, status=400)
