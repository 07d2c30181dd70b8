"""Imports through a mapping from the import page: a file no importer knows is kept while the teacher
checks the mapping proposed for it, previews the questions it gives, saves it under a name for next
time, and imports with it through the same job as any upload (quizbank/importers/mapped.py reads it,
as `import_questions --map` does)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from core.exceptions import ApplicationError
from quizbank.import_progress import PROGRESS_FILE_NAME
from quizbank.importers import BankImportError, QuestionRecord, RowError, iter_file
from quizbank.importers.detect import recognised_format
from quizbank.importers.mapped import mapping_format
from quizbank.importers.mapping import mapping_parse
from quizbank.importers.mapping_guess import Sample, mapping_fits, mapping_guess, record_fields, sample_records
from quizbank.importers.table_rows import header_looks_like_ours
from quizbank.models import ImportJob, MappingProfile
from quizbank.services.imports import MAPPING_NAME, import_job_create, import_job_start, import_upload_store

PREVIEW_QUESTIONS = 10
PREVIEW_ERRORS = 20
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class StagedUpload:
    """An upload kept under IMPORT_ROOT/<token>/ for the mapping page (swept like any upload after a day)."""

    token: str
    path: Path


@dataclass(frozen=True)
class MappingProposal:
    sample: Sample
    mapping: dict
    profile: MappingProfile | None  # the saved mapping whose paths are in the file's first record
    fields: list[tuple[str, str]]  # the first record's paths, with a sample value each


@dataclass
class MappingPreview:
    records: list[QuestionRecord] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    read_all: bool = True  # the whole file was read before the preview was full


# --- the upload -------------------------------------------------------------------------------------


def import_upload_receive(
    *,
    upload: UploadedFile,
    created_by: User | None,
    fmt: str = "",
    use_mapping: bool = False,
    subject: str = "",
    skip_invalid: bool = False,
    dry_run: bool = False,
) -> ImportJob | StagedUpload:
    """An upload from the import page, imported as import_job_create imports it; kept for the mapping
    page instead when the teacher asks for a mapping, or when no importer recognises the file and
    records can be read from it (else the importers' own errors say what is wrong)."""
    if fmt:
        return import_job_create(
            upload=upload,
            fmt=fmt,
            created_by=created_by,
            subject=subject,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
        )
    path = import_upload_store(upload=upload)
    if use_mapping or _needs_mapping(path):
        return StagedUpload(token=path.parent.name, path=path)
    return import_job_start(
        path=path, created_by=created_by, subject=subject, skip_invalid=skip_invalid, dry_run=dry_run
    )


def _needs_mapping(path: Path) -> bool:
    sample = sample_records(path, file_name=path.name, limit=1)
    if not sample.records:
        return False
    if sample.format == "xlsx":
        return not header_looks_like_ours(list(sample.records[0]))
    return recognised_format(path) is None


def staged_upload(*, token: str) -> StagedUpload | None:
    """The upload kept under this token, or None when there is none (a bad token, or swept)."""
    if not _TOKEN.match(token or ""):
        return None
    folder = Path(settings.IMPORT_ROOT) / token
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    files = [path for path in files if path.is_file() and not path.name.startswith(PROGRESS_FILE_NAME)]
    if len(files) != 1 or ImportJob.objects.filter(file_path=str(files[0])).exists():
        return None  # an upload already imported is no longer the mapping page's
    return StagedUpload(token=token, path=files[0])


# --- the mapping ------------------------------------------------------------------------------------


def mapping_propose(*, path: Path) -> MappingProposal:
    """What the mapping page starts from: a saved mapping that fits the file, else a guessed one."""
    sample = sample_records(path, file_name=path.name)
    profile = next((saved for saved in MappingProfile.objects.all() if mapping_fits(saved.mapping, sample)), None)
    mapping = profile.mapping if profile else mapping_guess(sample)
    fields = record_fields(sample.records[0]) if sample.records else []
    return MappingProposal(sample=sample, mapping=mapping, profile=profile, fields=fields)


def mapping_check(*, mapping: str | dict, field_name: str = "mapping") -> dict:
    """The mapping (JSON text or data) checked whole; ApplicationError saying where it is wrong,
    e.g. "fields.answer: ..." (extra: the form field, and where in the mapping)."""
    data: object = mapping
    if isinstance(mapping, str):
        try:
            data = json.loads(mapping)
        except json.JSONDecodeError as exc:
            message = f"the mapping is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            raise ApplicationError(message, extra={"field": field_name, "where": "(mapping)"}) from None
    try:
        mapping_parse(data, file_name=MAPPING_NAME)
    except BankImportError as exc:
        error = exc.errors[0]
        extra = {"field": field_name, "where": error.field}
        raise ApplicationError(f"{error.field}: {error.message}", extra=extra) from None
    assert isinstance(data, dict)  # mapping_parse refuses anything else
    return data


def mapping_resolve(*, mapping: str | dict | None = None, profile: str = "") -> dict | None:
    """The mapping an API import names: given whole, or a saved profile's by name; None for neither."""
    if mapping is not None and profile:
        raise ApplicationError("give either a mapping or a profile, not both", extra={"field": "profile"})
    if profile:
        saved = MappingProfile.objects.filter(name=profile).first()
        if saved is None:
            raise ApplicationError(f"no saved mapping is named {profile!r}", extra={"field": "profile"})
        return mapping_check(mapping=saved.mapping, field_name="profile")
    return None if mapping is None else mapping_check(mapping=mapping)


def mapping_preview(*, path: Path, mapping: dict, subject: str = "") -> MappingPreview:
    """The first questions the mapping makes of the file, as the import would write them, and the row
    errors met on the way (reading stops when the preview is full)."""
    preview = MappingPreview()
    fmt = mapping_format(mapping_parse(mapping, file_name=MAPPING_NAME))
    try:
        for item in iter_file(path, fmt=fmt, subject=subject, file_name=path.name):
            if isinstance(item, RowError):
                preview.errors.append(item)
            else:
                preview.records.append(item)
            if len(preview.records) >= PREVIEW_QUESTIONS or len(preview.errors) >= PREVIEW_ERRORS:
                preview.read_all = False
                break
    except BankImportError as exc:
        preview.errors.extend(exc.errors[: PREVIEW_ERRORS - len(preview.errors)])
    return preview


def mapping_profile_save(*, name: str, mapping: dict, created_by: User | None) -> MappingProfile:
    """Save a checked mapping under a new name (a name in use is refused, never overwritten)."""
    name = name.strip()
    if not name:
        raise ApplicationError("name the mapping to save it", extra={"field": "profile_name"})
    data = mapping_check(mapping=mapping)
    try:
        with transaction.atomic():
            return MappingProfile.objects.create(name=name, mapping=data, created_by=created_by)
    except IntegrityError:
        raise ApplicationError(
            f"a saved mapping is already named {name!r}; choose another name", extra={"field": "profile_name"}
        ) from None


def mapping_import_start(
    *,
    upload: StagedUpload,
    mapping: dict,
    created_by: User | None,
    subject: str = "",
    skip_invalid: bool = False,
    dry_run: bool = False,
) -> ImportJob:
    """Import the kept upload with the mapping, through the same job as any upload."""
    data = mapping_check(mapping=mapping)
    return import_job_start(
        path=upload.path,
        created_by=created_by,
        mapping=data,
        subject=subject,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
    )
