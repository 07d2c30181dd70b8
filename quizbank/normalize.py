"""Text normalisation for duplicate detection and answer comparison."""

import hashlib
import json
import re
import unicodedata

_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC (full-width → half-width, Kangxi radicals → CJK), whitespace collapsed, trimmed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", str(text))).strip()


def _normalized(value):
    """Text normalised; empty entries dropped, so `{}` and `{"feedback": ""}` are the same content."""
    if isinstance(value, str):
        return normalize_text(value)
    if isinstance(value, dict):
        return {key: _normalized(item) for key, item in value.items() if item not in ("", None, [], {})}
    if isinstance(value, list):
        return [_normalized(item) for item in value]
    return value


def content_hash(
    *, qtype: str, stem: str, options: list[dict], answer: str = "", answer_data: dict | None = None
) -> str:
    """The identity of a question's content: type, stem, options with weights, key, structured key."""
    parts = [qtype, normalize_text(stem), normalize_text(answer)]
    parts += [
        f"{option['key']}={normalize_text(option['text'])}@{float(option.get('fraction') or 0):g}" for option in options
    ]
    parts.append(json.dumps(_normalized(answer_data or {}), sort_keys=True, ensure_ascii=False))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def record_hash(record) -> str:
    """content_hash of a QuestionRecord or a Question."""
    return content_hash(
        qtype=record.qtype,
        stem=record.stem,
        options=record.options,
        answer=record.answer,
        answer_data=record.answer_data,
    )
