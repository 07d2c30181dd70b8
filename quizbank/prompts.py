"""The one place that decides what the model sees and what it must answer.

The exporter (bank → instruction data), the trainer (instruction data → token ids), the
explainer and the evaluator (question → chat request → parsed answer) all use these
functions, so a model is always served with the format and chat template it was trained on.
Pure strings only: no tokenizer or model is imported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# DeepSeek's special tokens (full-width bars and U+2581), as in DeepSeek-R1-Distill-Qwen.
BOS_TOKEN = "<｜begin▁of▁sentence｜>"
EOS_TOKEN = "<｜end▁of▁sentence｜>"
USER_TOKEN = "<｜User｜>"
ASSISTANT_TOKEN = "<｜Assistant｜>"
PAD_TOKEN = "<｜▁pad▁｜>"
SPECIAL_TOKENS = [BOS_TOKEN, EOS_TOKEN, USER_TOKEN, ASSISTANT_TOKEN, PAD_TOKEN]

# DeepSeek's chat template, without the reasoning (<think>) handling that the tiny model does
# not need. A real DeepSeek checkpoint keeps the template it ships with.
DEEPSEEK_CHAT_TEMPLATE = (
    "{% if add_generation_prompt is not defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}{{ '" + USER_TOKEN + "' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '" + ASSISTANT_TOKEN + "' + message['content'] + '" + EOS_TOKEN + "' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '" + ASSISTANT_TOKEN + "' }}{% endif %}"
)

SINGLE_CHOICE_INSTRUCTION = "以下是一道单项选择题。请先给出正确选项的字母，再给出解析。"
SHORT_ANSWER_INSTRUCTION = "请回答下面的问题，并给出解析。"
ANSWER_PREFIX = "答案："
EXPLANATION_PREFIX = "解析："

_OPTION_LINE = re.compile(r"^\s*([A-Z])[.．、]\s*(.*)$")
_ANSWER = re.compile(r"答案\s*[：:]\s*([A-Z])")
_EXPLANATION = re.compile(r"解析\s*[：:]\s*(.*)", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


@dataclass(frozen=True)
class ParsedOutput:
    answer: str | None
    explanation: str


# --- bank → instruction data -------------------------------------------------------------------


def choice_input(stem: str, options: list[dict]) -> str:
    lines = [stem.strip()]
    lines += [f"{option['key']}. {option['text'].strip()}" for option in options]
    return "\n".join(lines)


def choice_output(answer: str, explanation: str) -> str:
    text = f"{ANSWER_PREFIX}{answer}"
    if explanation.strip():
        text += f"\n{EXPLANATION_PREFIX}{explanation.strip()}"
    return text


def instruction_record(*, qtype: str, stem: str, options: list[dict], answer: str, explanation: str) -> dict:
    """One question as the seed's instruction record {"instruction", "input", "output"}."""
    if qtype == "single_choice":
        return {
            "instruction": SINGLE_CHOICE_INSTRUCTION,
            "input": choice_input(stem, options),
            "output": choice_output(answer, explanation),
        }
    output = answer.strip()
    if explanation.strip():
        output += f"\n{EXPLANATION_PREFIX}{explanation.strip()}"
    return {"instruction": SHORT_ANSWER_INSTRUCTION, "input": stem.strip(), "output": output}


def parse_choice_input(text: str) -> tuple[str, list[dict]] | None:
    """Split an instruction record's input back into stem and options; None if it has none."""
    stem_lines: list[str] = []
    options: list[dict] = []
    for line in text.splitlines():
        match = _OPTION_LINE.match(line)
        if match and (not options and match.group(1) == "A" or options and _next_key(options) == match.group(1)):
            options.append({"key": match.group(1), "text": match.group(2).strip()})
        elif options:
            options[-1]["text"] += "\n" + line  # an option that runs over several lines
        else:
            stem_lines.append(line)
    if len(options) < 2:
        return None
    return "\n".join(stem_lines).strip(), options


def _next_key(options: list[dict]) -> str:
    return chr(ord(options[-1]["key"]) + 1)


# --- instruction data → chat ------------------------------------------------------------------


def prompt_messages(record: dict) -> list[dict]:
    """The chat the model is trained and served on, for one instruction record."""
    content = record["instruction"].strip()
    if record.get("input", "").strip():
        content += "\n\n" + record["input"].strip()
    return [{"role": "user", "content": content}]


def training_messages(record: dict) -> list[dict]:
    return [*prompt_messages(record), {"role": "assistant", "content": record["output"]}]


# --- model output → answer ---------------------------------------------------------------------


def parse_output(text: str) -> ParsedOutput:
    text = _THINK.sub("", text).strip()
    answer = _ANSWER.search(text)
    explanation = _EXPLANATION.search(text)
    return ParsedOutput(
        answer=answer.group(1) if answer else None,
        explanation=explanation.group(1).strip() if explanation else text,
    )


def choice_output_pattern(option_keys: list[str]) -> str:
    """A regular expression for constrained decoding: a valid option letter, then the explanation."""
    keys = "".join(option_keys)
    return f"{ANSWER_PREFIX}[{keys}](\n{EXPLANATION_PREFIX}[^\\x00]*)?"
