"""Imported text is data, never markup that runs: HTML is reduced to a safe subset (nh3).

Links may go to http(s) and mailto addresses or be relative; never `javascript:` or `data:` (a data
URL is a whole page the link would open). Images come from this site only: a relative address (a
Moodle `@@PLUGINFILE@@/…` reference included) or a raster image inside the question itself
(`data:image/png;base64,…`, also jpeg, gif, webp). A remote image is dropped: shown to every student
taking the paper, it would tell its owner who is taking it and when. The Content-Security-Policy
(core/middleware.py) refuses remote images and every inline script as a second line.
"""

from __future__ import annotations

import re

import nh3

ALLOWED_TAGS = {
    "p",
    "br",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "sub",
    "sup",
    "span",
    "div",
    "ul",
    "ol",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "pre",
    "code",
    "img",
    "a",
    "blockquote",
    "hr",
}
ALLOWED_ATTRIBUTES = {"img": {"src", "alt", "width", "height"}, "a": {"href", "title"}, "td": {"colspan", "rowspan"}}


_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*:")
_INLINE_IMAGE = re.compile(r"data:image/(png|jpeg|jpg|gif|webp);base64,")
# What a browser ignores in a URL before reading its scheme: spaces, tabs, newlines, control characters.
_URL_IGNORED = re.compile(r"[\x00-\x20]")


def _kept_url(tag: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: the value of a link or image address if allowed here, else None."""
    if (tag, attribute) not in (("a", "href"), ("img", "src")):
        return value
    compact = _URL_IGNORED.sub("", value).lower().replace("\\", "/")
    scheme = _SCHEME.match(compact)
    if tag == "a":
        return value if scheme is None or scheme.group() in ("http:", "https:", "mailto:") else None
    if scheme is None:
        return None if compact.startswith("//") else value  # "//host/x.png" is a remote image too
    return value if _INLINE_IMAGE.match(compact) else None


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_kept_url,
        url_schemes={"http", "https", "mailto", "data"},
    )


def sanitize_answer_data(data: dict) -> None:
    """HTML kept in answer_data (matching items, choices and feedback, grading notes) gets the
    cleaning the stem gets; answers to compare with a response stay as written."""
    for pair in data.get("pairs", []):
        pair["left"] = sanitize_html(pair["left"])
    for key in ("feedback_true", "feedback_false", "wrong_feedback", "grading_instructions", "response_template"):
        if data.get(key):
            data[key] = sanitize_html(data[key])
    for holder in [data, *data.get("subquestions", [])]:
        for answer in holder.get("answers", []):
            if answer.get("feedback"):
                answer["feedback"] = sanitize_html(answer["feedback"])
        for option in holder.get("options", []):
            option["text"] = sanitize_html(option["text"])
            if option.get("feedback"):
                option["feedback"] = sanitize_html(option["feedback"])


def clean_record(record) -> None:
    """Sanitise the HTML parts of a record in place (plain text stays as it is: templates escape it)."""
    if record.stem_format == "html":
        record.stem = sanitize_html(record.stem)
        record.explanation = sanitize_html(record.explanation)
        record.general_feedback = sanitize_html(record.general_feedback)
        for option in record.options:
            option["text"] = sanitize_html(str(option.get("text", "")))
            if option.get("feedback"):
                option["feedback"] = sanitize_html(option["feedback"])
        sanitize_answer_data(record.answer_data)
    record.stem = record.stem.strip()
    record.answer = record.answer.strip()
