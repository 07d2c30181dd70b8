"""Question text as the pages show it. Markdown stems become HTML (markdown-it, raw HTML off, then the
sanitiser every imported stem goes through), their LaTeX left as written for KaTeX (math.js) to typeset:
formulas are set aside before the Markdown is read, so `_`, `*` and `\\` inside them mean what they mean
to LaTeX. HTML stems were sanitised when they were saved; plain text is escaped."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from quizbank.sanitize import sanitize_html

# $$…$$, \[…\], \(…\), then $…$ (one line, not `$ ` at its start): the delimiters math.js typesets.
_MATH = re.compile(r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|(?<![\\$])\$(?![\s$])[^$\n]+?(?<![\s\\])\$", re.DOTALL)
_PLACEHOLDER = re.compile(r"qzmath(\d+)qz")


@lru_cache(maxsize=1)
def _renderer():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False}).enable("table")


def markdown_html(text: str) -> str:
    """Markdown → sanitised HTML, formulas untouched (HTML-escaped, as text)."""
    formulas: list[str] = []

    def set_aside(match: re.Match) -> str:
        formulas.append(match.group())
        return f"qzmath{len(formulas) - 1}qz"

    rendered = sanitize_html(_renderer().render(_MATH.sub(set_aside, text)))
    return _PLACEHOLDER.sub(
        lambda m: html.escape(formulas[int(m.group(1))], quote=False) if int(m.group(1)) < len(formulas) else "",
        rendered,
    )


def text_html(text: str, text_format: str) -> SafeString:
    """A stem (or option, explanation) in its format, as HTML safe to put in a page."""
    if text_format == "markdown":
        return mark_safe(markdown_html(text))  # noqa: S308 - sanitised by sanitize_html
    if text_format == "html":
        return mark_safe(text)  # noqa: S308 - sanitised when it was saved
    return conditional_escape(text)
