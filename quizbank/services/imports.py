"""Bank imports: files streamed through the importers into the bank, all or nothing."""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from quizbank.import_progress import PROGRESS_FILE_NAME, progress_write
from quizbank.importers import BankImportError, QuestionRecord, RowError, iter_file
from quizbank.importers.detect import default_subject
from quizbank.importers.mapped import mapping_format
from quizbank.importers.mapping import mapping_load, mapping_parse
from quizbank.importers.registry import Format, format_by_name
from quizbank.models import ImportJob, ImportStatus, KnowledgePoint, Question, Subject, Tag
from quizbank.normalize import record_hash
from quizbank.selectors.access import bank_allows
from quizbank.services.images import record_images_store
from quizbank.signals import import_job_queued


@dataclass
class ImportReport:
    created: int = 0
    duplicates: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    dry_run: bool = False
    rows_read: int = 0  # records read, good and bad rows' errors aside
    refused: bool = False  # nothing was read (a wrong mapping): an error even with skip_invalid

    @property
    def written(self) -> bool:
        return self.created > 0 and not self.dry_run

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "errors": [error.as_dict() for error in self.errors],
            "warnings": list(self.warnings),
        }


class _DryRunRollback(Exception):
    pass


IMPORT_BATCH = 1000
logger = logging.getLogger(__name__)


def subject_get_or_create(*, path: str, owner: User | None = None) -> Subject:
    """The subject at `path`, made with its parents where missing. With an `owner`, a new bank (a new
    top-level subject) is theirs, and writing into an existing bank needs their edit right on it."""
    parent = None
    parts = [part.strip() for part in path.split("/") if part.strip()]
    for depth in range(1, len(parts) + 1):
        defaults = {"name": parts[depth - 1], "parent": parent, "owner": owner if depth == 1 else None}
        parent, made = Subject.objects.get_or_create(path="/".join(parts[:depth]), defaults=defaults)
        if depth == 1 and owner is not None and not made and not bank_allows(user=owner, subject=parent, level="edit"):
            raise ApplicationError(
                f"the bank {parent.path!r} is another teacher's: ask them to share it with you to edit",
                extra={"field": "subject", "code": "not_allowed"},
            )
    if parent is None:
        raise ApplicationError(f"{path!r} is not a subject path")
    return parent


class _BankWriter:
    """Writes validated records in batches: duplicates skipped, subjects/tags created as met."""

    def __init__(self, report: ImportReport, owner: User | None = None):
        self.report = report
        self.owner = owner
        self.pending: list[QuestionRecord] = []
        self.seen: set[str] = set()
        self.subjects: dict[str, Subject] = {}
        self.tags: dict[str, int] = {}
        self.points: dict[str, int] = {}

    def add(self, record: QuestionRecord) -> None:
        if record.source_files:  # images the file embeds, stored now: the text then names them
            record_images_store(record=record)
        self.pending.append(record)
        if len(self.pending) >= IMPORT_BATCH:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        if not batch:
            return
        hashes = [record_hash(record) for record in batch]
        known = set(
            Question.objects.filter(content_hash__in=hashes, is_current=True).values_list("content_hash", flat=True)
        )
        rows, extras = [], []
        for record, digest in zip(batch, hashes, strict=True):
            if digest in known or digest in self.seen:
                self.report.duplicates += 1
                continue
            self.seen.add(digest)
            rows.append(_question_row(record, digest, self._subject(record.subject)))
            extras.append(record)
        created = Question.objects.bulk_create(rows)
        self._link(created, extras)
        self.report.created += len(created)

    def _subject(self, path: str) -> Subject:
        if path not in self.subjects:
            self.subjects[path] = subject_get_or_create(path=path, owner=self.owner)
        return self.subjects[path]

    def _link(self, questions: list[Question], records: list[QuestionRecord]) -> None:
        tag_links, point_links = [], []
        for question, record in zip(questions, records, strict=True):
            for name in dict.fromkeys(record.tags):
                tag_links.append(
                    Question.tags.through(question_id=question.pk, tag_id=self._named(Tag, self.tags, name))
                )
            for name in dict.fromkeys(record.knowledge_points):
                point_links.append(
                    Question.knowledge_points.through(
                        question_id=question.pk, knowledgepoint_id=self._named(KnowledgePoint, self.points, name)
                    )
                )
        Question.tags.through.objects.bulk_create(tag_links)
        Question.knowledge_points.through.objects.bulk_create(point_links)

    @staticmethod
    def _named(model: type[Tag | KnowledgePoint], cache: dict[str, int], name: str) -> int:
        if name not in cache:
            cache[name] = model.objects.get_or_create(name=name)[0].pk
        return cache[name]


def _question_row(record: QuestionRecord, digest: str, subject: Subject) -> Question:
    return Question(
        subject=subject,
        qtype=record.qtype,
        stem=record.stem,
        stem_format=record.stem_format,
        options=record.options,
        answer=record.answer,
        answer_data=record.answer_data,
        explanation=record.explanation.strip(),
        general_feedback=record.general_feedback,
        score=record.score,
        partial_score=record.partial_score,
        difficulty=record.difficulty,
        source_file=record.source_file,
        source_row=record.source_row,
        source_dataset=record.source_dataset,
        source_licence=record.source_licence,
        content_hash=digest,
    )


def bank_import(
    *,
    paths: list[Path],
    fmt: str | Format = "",
    subject: str = "",
    skip_invalid: bool = False,
    dry_run: bool = False,
    file_names: list[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
    mapping: Path | dict | None = None,
    owner: User | None = None,
) -> ImportReport:
    """Import files in one transaction, streaming. With any bad row nothing is written, unless
    `skip_invalid`, which writes the good rows and reports the rest. `dry_run` writes nothing.
    `mapping` (a mapping file, or its JSON data: quizbank/importers/mapping.py) reads every file in
    the layout it describes; a mapping that is wrong is reported before any file is read."""
    report = ImportReport(dry_run=dry_run)
    names = file_names or [path.name for path in paths]
    if mapping is not None:
        try:
            fmt = _mapping_format(mapping, fmt)
        except BankImportError as exc:
            report.errors.extend(exc.errors)
            report.refused = True
            return report
    try:
        with transaction.atomic():
            writer = _BankWriter(report, owner)
            seen = 0
            for path, name in zip(paths, names, strict=True):
                report.files.append(name)
                defaulted = 0
                try:
                    for item in iter_file(path, fmt=fmt, subject=subject, file_name=name):
                        if isinstance(item, RowError):
                            report.errors.append(item)
                            continue
                        seen += 1
                        defaulted += item.source_subject_missing
                        if not report.errors or skip_invalid:
                            writer.add(item)
                        if on_progress and seen % 500 == 0:
                            on_progress(seen)
                except BankImportError as exc:
                    report.errors.extend(exc.errors)
                if defaulted:
                    report.warnings.append(_defaulted_warning(name, defaulted))
            report.rows_read = seen
            if not report.errors or skip_invalid:
                writer.flush()
            report.skipped = len({(error.file, error.row) for error in report.errors})
            if report.errors and not skip_invalid:
                report.created = report.duplicates = 0
                raise _DryRunRollback
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass
    except ApplicationError as exc:  # a bank the importing teacher may not write into: nothing written
        report.errors.append(
            RowError(", ".join(report.files), None, str(exc.extra.get("field", "(file)")), exc.message)
        )
        report.created = report.duplicates = 0
        report.refused = True
    return report


def _defaulted_warning(name: str, count: int) -> str:
    return (
        f"{name}: {count} question{'s' if count != 1 else ''} named no subject and went to "
        f"{default_subject(name)}; choose a default subject to place them elsewhere"
    )


MAPPING_NAME = "mapping"  # how a mapping given as data (not a file) is named in its errors


def _mapping_format(mapping: Path | dict, fmt: str | Format) -> Format:
    name = mapping.name if isinstance(mapping, Path) else MAPPING_NAME
    if fmt:
        message = "give either a format or a mapping: the mapping names the format"
        raise BankImportError([RowError(name, None, "(format)", message)])
    if isinstance(mapping, Path):
        return mapping_format(mapping_load(mapping))
    return mapping_format(mapping_parse(mapping, file_name=name))


def bank_import_file(*, path: Path, subject: str = "", fmt: str = "") -> ImportReport:
    """Import one file, all or nothing: BankImportError lists every bad row."""
    report = bank_import(paths=[path], fmt=fmt, subject=subject)
    if report.errors:
        raise BankImportError(report.errors)
    return report


# --- uploads -----------------------------------------------------------------------------------

INLINE_IMPORT_BYTES = 512 * 1024  # smaller uploads are imported during the request
# An uploaded file is deleted when its job ends; what a lost worker or a failed request leaves behind
# is swept once it is this old (the job's report keeps the file's name and every error).
IMPORT_FILE_MAX_AGE_SECONDS = 24 * 3600


def import_job_create(
    *,
    upload: UploadedFile,
    created_by: User | None,
    fmt: str = "",
    subject: str = "",
    skip_invalid: bool = False,
    dry_run: bool = False,
    mapping: dict | None = None,
) -> ImportJob:
    """Store an uploaded file and import it: now if small, else on a worker (progress on the job).
    `mapping` (checked by the caller: quizbank/services/mapping_imports.py) reads a layout no importer knows."""
    if fmt and format_by_name(fmt) is None:
        raise ApplicationError(f"unknown format {fmt!r}", extra={"field": "format"})
    if fmt and mapping is not None:
        raise ApplicationError("give either a format or a mapping: the mapping names the format", {"field": "format"})
    path = import_upload_store(upload=upload)
    return import_job_start(
        path=path,
        created_by=created_by,
        fmt=fmt,
        subject=subject,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
        mapping=mapping,
    )


def import_upload_store(*, upload: UploadedFile) -> Path:
    """Write an upload into a folder of its own under IMPORT_ROOT (deleted when its job ends, or by
    import_files_sweep a day later); refused, and nothing written, when it has no name or is too big."""
    name, size = Path(upload.name or "").name, upload.size
    if name.startswith(PROGRESS_FILE_NAME):  # the progress file lives beside the upload
        name = f"_{name}"
    if not name or size is None:  # a multipart upload always has both
        raise ApplicationError("send the bank as a file with a name", extra={"field": "file"})
    if size > settings.IMPORT_MAX_UPLOAD_BYTES:
        raise ApplicationError(
            f"{name} is {size // (1024 * 1024)} MB; the limit is "
            f"{settings.IMPORT_MAX_UPLOAD_BYTES // (1024 * 1024)} MB",
            extra={"field": "file"},
        )
    folder = settings.IMPORT_ROOT / uuid.uuid4().hex
    folder.mkdir(parents=True)
    path = folder / name
    with path.open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    return path


def import_job_start(
    *,
    path: Path,
    created_by: User | None,
    fmt: str = "",
    subject: str = "",
    skip_invalid: bool = False,
    dry_run: bool = False,
    mapping: dict | None = None,
) -> ImportJob:
    """The import job of a stored upload (import_upload_store), run now if small, else queued."""
    size = path.stat().st_size
    job = ImportJob.objects.create(
        file_path=str(path),
        file_name=path.name,
        file_size=size,
        format=fmt,
        mapping=mapping,
        subject=subject,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
        created_by=created_by,
    )
    if size <= INLINE_IMPORT_BYTES:
        return import_job_run(job_id=job.pk)
    transaction.on_commit(lambda: import_job_queued.send(sender=ImportJob, job_id=job.pk))
    return job


PASTED_FILE_NAME = "粘贴的题目.txt"  # its name decides the default subject: 未分类/粘贴的题目


def import_job_create_from_text(
    *,
    text: str,
    created_by: User | None,
    fmt: str = "",
    subject: str = "",
    skip_invalid: bool = False,
    dry_run: bool = False,
    mapping: dict | None = None,
) -> ImportJob:
    """Import pasted text as import_job_create imports an uploaded file: the format chosen or detected
    from the content (or read through a mapping), the same rows refused with the same errors."""
    if not text.strip():
        raise ApplicationError("paste the questions to import", extra={"field": "text"})
    data = text.replace("\r\n", "\n").encode("utf-8")
    upload = SimpleUploadedFile(PASTED_FILE_NAME, data, content_type="text/plain")
    return import_job_create(
        upload=upload,
        created_by=created_by,
        fmt=fmt,
        subject=subject,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
        mapping=mapping,
    )


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a queued import job once (a redelivered message finds it claimed and does nothing)."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(status=ImportStatus.RUNNING)
    job = ImportJob.objects.get(pk=job_id)
    if not claimed:
        return job

    def progress(rows: int) -> None:
        # beside the upload, not on the job row: the import's transaction would hide it until the end
        if _upload_folder(job.file_path) is not None:
            progress_write(job.file_path, rows)

    try:
        report = bank_import(
            paths=[Path(job.file_path)],
            file_names=[job.file_name],
            fmt=job.format,
            subject=job.subject,
            skip_invalid=job.skip_invalid,
            dry_run=job.dry_run,
            on_progress=progress,
            owner=job.created_by,
            mapping=job.mapping,
        )
    except Exception as exc:
        logger.exception("import %s failed", job_id)
        job.report = {
            "created": 0,
            "duplicates": 0,
            "skipped": 0,
            "errors": [
                {"source": job.file_name, "line": None, "field": "(file)", "message": f"could not be read: {exc}"}
            ],
        }
        job.status = ImportStatus.FAILED
    else:
        job.report = report.as_dict()
        job.rows_read = report.rows_read
        job.status = ImportStatus.FAILED if report.errors and not job.skip_invalid else ImportStatus.SUCCEEDED
    job.finished_at = timezone.now()
    job.save(update_fields=["report", "status", "finished_at", "rows_read"])
    import_file_delete(path=job.file_path)
    return job


def _upload_folder(path: str | Path) -> Path | None:
    """The folder import_job_create made for an upload (IMPORT_ROOT/<hex>/), or None for a path
    anywhere else: nothing outside IMPORT_ROOT is ever deleted, whatever a job row says."""
    root = Path(settings.IMPORT_ROOT).resolve()
    folder = Path(path).resolve().parent
    return folder if folder.parent == root else None


def import_file_delete(*, path: str | Path) -> None:
    """Delete an uploaded file and its folder (the upload is only needed while its job runs)."""
    folder = _upload_folder(path)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def import_files_sweep(*, max_age_seconds: float = IMPORT_FILE_MAX_AGE_SECONDS, now: float | None = None) -> int:
    """Delete uploads older than `max_age_seconds` that no running job is reading; a queued job whose
    file goes is failed with the reason. Returns the number of folders deleted."""
    root = Path(settings.IMPORT_ROOT)
    if not root.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - max_age_seconds
    running = {
        folder
        for path in ImportJob.objects.filter(status=ImportStatus.RUNNING).values_list("file_path", flat=True)
        if (folder := _upload_folder(path)) is not None
    }
    deleted = 0
    for folder in root.iterdir():
        if not folder.is_dir() or folder.resolve() in running or folder.stat().st_mtime > cutoff:
            continue
        for job in ImportJob.objects.filter(status=ImportStatus.QUEUED, file_path__startswith=f"{folder}/"):
            error = {
                "source": job.file_name,
                "line": None,
                "field": "(file)",
                "message": "no worker imported the file within a day, so it was deleted; upload it again",
            }
            ImportJob.objects.filter(pk=job.pk, status=ImportStatus.QUEUED).update(
                status=ImportStatus.FAILED,
                finished_at=timezone.now(),
                report={"created": 0, "duplicates": 0, "skipped": 0, "errors": [error]},
            )
        shutil.rmtree(folder, ignore_errors=True)
        deleted += 1
    return deleted
