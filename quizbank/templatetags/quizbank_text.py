"""`{{ question.stem|as_html:question.stem_format }}`: question text in its format (quizbank/markup.py)."""

from django import template
from django.utils.safestring import SafeString

from quizbank.markup import text_html

register = template.Library()


@register.filter
def as_html(text, text_format: str = "plain") -> SafeString:
    return text_html(str(text or ""), str(text_format or "plain"))
