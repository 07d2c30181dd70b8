"""Imported text is data, never markup that runs: HTML is reduced to a safe subset (nh3)."""

from __future__ import annotations

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


def sanitize_html(html: str) -> str:
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "data"})


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
