"""The files a Moodle XML question embeds: `<file name="x.png" path="/" encoding="base64">…</file>` inside
its `<questiontext>` (or feedback), referred to in the text as `@@PLUGINFILE@@/x.png`."""

from __future__ import annotations

import base64
import binascii
from xml.etree import ElementTree

PLUGINFILE = "@@PLUGINFILE@@/"


def embedded_files(question: ElementTree.Element) -> dict[str, bytes]:
    """The question's base64 files by name; one that does not decode is left out (its reference stays)."""
    files: dict[str, bytes] = {}
    for element in question.iter("file"):
        name = (element.get("name") or "").strip()
        if not name or element.get("encoding", "base64") != "base64":
            continue
        try:
            files[name] = base64.b64decode("".join((element.text or "").split()), validate=True)
        except (binascii.Error, ValueError):
            continue
    return files
