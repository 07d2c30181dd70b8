"""Text normalisation for duplicate detection and answer comparison."""

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC (full-width → half-width, Kangxi radicals → CJK), whitespace collapsed, trimmed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def content_hash(*, qtype: str, stem: str, options: list[dict]) -> str:
    parts = [qtype, normalize_text(stem)]
    parts += [f"{option['key']}={normalize_text(option['text'])}" for option in options]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
