"""Question images: a file checked to be the image it claims to be (SVG cleaned of anything that runs or
fetches), then stored once per content through Django's storage API (local files or an S3 bucket)."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from core.exceptions import ApplicationError
from quizbank.images import CONTENT_TYPES, EXTENSIONS, image_file_name, image_url
from quizbank.importers.base import QuestionRecord
from quizbank.models import QuestionImage
from quizbank.svg import UnsafeSvg, svg_clean

_PILLOW_FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
_SVG_START = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE[^>]*>\s*)?<svg[\s>]", re.DOTALL)


def image_kind(data: bytes) -> str | None:
    """What the bytes are, by their first bytes: png, jpg, webp, svg, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if _SVG_START.match(data.removeprefix(b"\xef\xbb\xbf")[:4096]):
        return "svg"
    return None


def _claimed_kind(name: str, content_type: str) -> str:
    kind = EXTENSIONS.get(PurePosixPath(name.lower()).suffix)
    if kind is None:
        raise ApplicationError(
            f"{name or 'the file'}: only PNG, JPEG, WebP and SVG images can be added", extra={"field": "file"}
        )
    content_type = content_type.split(";")[0].strip().lower()
    if content_type not in ("", "application/octet-stream") and content_type != CONTENT_TYPES[kind]:
        raise ApplicationError(f"{name} is sent as {content_type}, not as its name says", extra={"field": "file"})
    return kind


def _checked(data: bytes, *, name: str, kind: str) -> bytes:
    """The bytes to store: a raster image as it came once Pillow has read it; an SVG cleaned."""
    if image_kind(data) != kind:
        raise ApplicationError(f"{name} is not the {kind.upper()} image its name says", extra={"field": "file"})
    if kind == "svg":
        try:
            return svg_clean(data)
        except UnsafeSvg as exc:
            raise ApplicationError(f"{name}: {exc}", extra={"field": "file"}) from exc
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            found = image.format
            image.verify()
    except Exception as exc:  # Pillow raises many kinds for a broken or oversized file
        raise ApplicationError(f"{name} is not a readable image: {exc}", extra={"field": "file"}) from exc
    if found != _PILLOW_FORMATS[kind]:
        raise ApplicationError(f"{name} is not the {kind.upper()} image its name says", extra={"field": "file"})
    return data


def question_image_create(
    *, data: bytes, name: str, content_type: str = "", uploaded_by: User | None = None
) -> QuestionImage:
    """Store an image for question text (a teacher's upload, a file an imported question embeds); the same
    content twice is one image. Refused (ApplicationError): too large, not PNG/JPEG/WebP/SVG, bytes that
    are not what the name and content type claim, an SVG that is not a readable document."""
    limit = settings.QUESTION_IMAGE_MAX_BYTES
    if len(data) > limit:
        raise ApplicationError(
            f"{name} is too large: images may be at most {limit / 1024 / 1024:g} MB",
            extra={"field": "file"},
        )
    kind = _claimed_kind(name, content_type)
    data = _checked(data, name=name, kind=kind)
    digest = hashlib.sha256(data).hexdigest()
    existing = QuestionImage.objects.filter(sha256=digest).first()
    if existing is not None:
        return existing
    file_name = image_file_name(digest, kind)
    if not default_storage.exists(file_name):  # content-addressed: a file already there is this one
        file_name = default_storage.save(file_name, ContentFile(data))
    try:
        with transaction.atomic():
            return QuestionImage.objects.create(
                file=file_name,
                sha256=digest,
                content_type=CONTENT_TYPES[kind],
                size=len(data),
                original_name=PurePosixPath(name).name[:300],
                uploaded_by=uploaded_by,
            )
    except IntegrityError:  # the same image stored by another request meanwhile
        return QuestionImage.objects.get(sha256=digest)


def _pointed(text: str, references: dict[str, str]) -> str:
    for reference, url in references.items():
        text = text.replace(reference, url)
    return text


def record_images_store(*, record: QuestionRecord, prefix: str = "@@PLUGINFILE@@/") -> None:
    """Store the files an imported record embeds (`record.source_files`, by name) and point its text
    (stem, explanation, feedback, options) at the stored images instead of `prefix` + name. A file that is
    refused stays a dead reference: the question imports, that image does not."""
    from urllib.parse import quote

    texts = [record.stem, record.explanation, record.general_feedback]
    texts += [str(option.get("text", "")) for option in record.options]
    references: dict[str, str] = {}
    for name, data in record.source_files.items():
        names = {prefix + name, prefix + quote(name)}
        if not any(reference in text for reference in names for text in texts):
            continue
        try:
            image = question_image_create(data=data, name=name)
        except ApplicationError:
            continue
        references.update(dict.fromkeys(names, image_url(str(image.file.name))))
    record.source_files = {}
    if not references:
        return
    record.stem = _pointed(record.stem, references)
    record.explanation = _pointed(record.explanation, references)
    record.general_feedback = _pointed(record.general_feedback, references)
    for option in record.options:
        option["text"] = _pointed(str(option.get("text", "")), references)
