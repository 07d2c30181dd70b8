"""Question images in Moodle XML: each stored image a text names is embedded in the text's field as
`<file name="<name>" path="/" encoding="base64">`, and the text refers to it as `@@PLUGINFILE@@/<name>`,
which is how Moodle writes and reads a question's files (and quizbank.importers.moodle_xml reads back)."""

from __future__ import annotations

import base64
from xml.etree import ElementTree

from django.core.files.storage import default_storage

from quizbank.images import IMAGE_FOLDER, IMAGE_URL_PREFIX, image_names
from quizbank.importers.moodle_files import PLUGINFILE


def _image_bytes(name: str) -> bytes | None:
    try:
        with default_storage.open(f"{IMAGE_FOLDER}/{name}", "rb") as handle:
            return handle.read()
    except OSError:
        return None


def files_embed(text: str, field: ElementTree.Element) -> str:
    """`text` with our image addresses as @@PLUGINFILE@@ references, their files added to `field` (the
    `<questiontext>` element); an image whose file is missing keeps its address."""
    for name in image_names(text):
        data = _image_bytes(name)
        if data is None:
            continue
        element = ElementTree.SubElement(field, "file", {"name": name, "path": "/", "encoding": "base64"})
        element.text = base64.b64encode(data).decode("ascii")
        text = text.replace(IMAGE_URL_PREFIX + name, PLUGINFILE + name)
    return text
