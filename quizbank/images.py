"""How question text refers to images: every image a question shows is a QuestionImage served by this
site at /media/question-images/<sha256>.<ext>, and stems name it by that address (Markdown
`![alt](address)` or HTML `<img src="address">`). Pure text functions: no storage, no database."""

from __future__ import annotations

import re

IMAGE_FOLDER = "question-images"
IMAGE_URL_PREFIX = f"/media/{IMAGE_FOLDER}/"
# What each kind of image is stored and served as.
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "svg": "image/svg+xml"}
# File name endings a teacher's file may have, by kind.
EXTENSIONS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp", ".svg": "svg"}

IMAGE_NAME = r"[0-9a-f]{64}\.(?:png|jpg|webp|svg)"
IMAGE_URL = re.compile(re.escape(IMAGE_URL_PREFIX) + f"({IMAGE_NAME})")
_MARKDOWN_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = r"""\b{name}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"""


def image_file_name(sha256: str, kind: str) -> str:
    """The storage name of an image: its folder and content hash (one file per content)."""
    return f"{IMAGE_FOLDER}/{sha256}.{kind}"


def image_url(file_name: str) -> str:
    """The address a stem uses for a stored image (`question-images/<name>` or just `<name>`)."""
    return IMAGE_URL_PREFIX + file_name.rsplit("/", 1)[-1]


def image_names(text: str) -> list[str]:
    """The stored images a text refers to, by file name (`<sha256>.<ext>`), in order, once each."""
    return list(dict.fromkeys(IMAGE_URL.findall(text or "")))


def _attribute(tag: str, name: str) -> str:
    match = re.search(_ATTRIBUTE.format(name=name), tag, re.IGNORECASE)
    return next((group for group in match.groups() if group is not None), "") if match else ""


def _reference(alt: str, src: str) -> str:
    label = alt.strip() or src.rstrip("/").rsplit("/", 1)[-1]
    return f"[图片: {label}]" if label else "[图片]"


def images_as_text(text: str) -> str:
    """Every image (Markdown or HTML) replaced by a text reference `[图片: alt or file name]`: a model
    reads text, and neither an address nor the bytes say anything to it."""
    if "![" not in text and "<img" not in text.lower():
        return text
    text = _MARKDOWN_IMAGE.sub(lambda m: _reference(m.group(1), m.group(2)), text)
    return _HTML_IMAGE.sub(lambda m: _reference(_attribute(m.group(), "alt"), _attribute(m.group(), "src")), text)
