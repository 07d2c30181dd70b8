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
MULTIPLE_CHOICE_INSTRUCTION = "以下是一道多项选择题。请先给出所有正确选项的字母，再给出解析。"
TRUE_FALSE_INSTRUCTION = "以下是一道判断题。请先判断对错（对/错），再给出解析。"
FILL_BLANK_INSTRUCTION = "以下是一道填空题。请依次写出每个空的答案（用“；”分隔），再给出解析。"
NUMERICAL_INSTRUCTION = "以下是一道计算题。请先给出数值答案，再给出解析。"
MATCHING_INSTRUCTION = "以下是一道匹配题。请为左侧每一项选出右侧对应的字母（如 1-B），再给出解析。"
SHORT_ANSWER_INSTRUCTION = "请回答下面的问题，并给出解析。"
ESSAY_INSTRUCTION = "请作答下面的论述题，并给出解析。"
ANSWER_PREFIX = "答案："
EXPLANATION_PREFIX = "解析："
BLANK_SEPARATOR = "；"

_OPTION_LINE = re.compile(r"^\s*([A-Z])[.．、]\s*(.*)$")
_ANSWER = re.compile(r"答案\s*[：:]\s*([^\n]*)")
_EXPLANATION = re.compile(r"解析\s*[：:]\s*(.*)", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


@dataclass(frozen=True)
class ParsedOutput:
    answer: str | None  # the text after 答案： on its line
    explanation: str


# --- bank → instruction data -------------------------------------------------------------------


def choice_input(stem: str, options: list[dict]) -> str:
    lines = [stem.strip()]
    lines += [f"{option['key']}. {option['text'].strip()}" for option in options]
    return "\n".join(lines)


def answer_output(answer: str, explanation: str) -> str:
    text = f"{ANSWER_PREFIX}{answer}"
    if explanation.strip():
        text += f"\n{EXPLANATION_PREFIX}{explanation.strip()}"
    return text


def true_false_word(answer: str) -> str:
    return "对" if answer == "true" else "错"


def matching_input(stem: str, answer_data: dict) -> tuple[str, str]:
    """The matching prompt (left items numbered, right items lettered) and its key."""
    pairs = answer_data.get("pairs", [])
    rights = sorted({pair["right"] for pair in pairs} | set(answer_data.get("distractors", [])))
    letters = {right: chr(ord("A") + index) for index, right in enumerate(rights)}
    lines = [stem.strip(), "左侧："]
    lines += [f"{index}. {pair['left']}" for index, pair in enumerate(pairs, start=1)]
    lines += ["右侧："] + [f"{letters[right]}. {right}" for right in rights]
    key = BLANK_SEPARATOR.join(f"{index}-{letters[pair['right']]}" for index, pair in enumerate(pairs, start=1))
    return "\n".join(lines), key


def instruction_record(
    *, qtype: str, stem: str, options: list[dict], answer: str, explanation: str, answer_data: dict | None = None
) -> dict | None:
    """One question as the seed's instruction record {"instruction", "input", "output"}.

    None for what cannot be a training example (descriptions, cloze texts).
    """
    answer_data = answer_data or {}
    if qtype in ("single_choice", "multiple_choice"):
        instruction = SINGLE_CHOICE_INSTRUCTION if qtype == "single_choice" else MULTIPLE_CHOICE_INSTRUCTION
        return {
            "instruction": instruction,
            "input": choice_input(stem, options),
            "output": answer_output(answer, explanation),
        }
    if qtype == "true_false":
        return {
            "instruction": TRUE_FALSE_INSTRUCTION,
            "input": stem.strip(),
            "output": answer_output(true_false_word(answer), explanation),
        }
    if qtype == "fill_blank":
        blanks = [blank["answers"][0] for blank in answer_data.get("blanks", []) if blank.get("answers")]
        return {
            "instruction": FILL_BLANK_INSTRUCTION,
            "input": stem.strip(),
            "output": answer_output(BLANK_SEPARATOR.join(blanks) or answer, explanation),
        }
    if qtype == "numerical":
        return {
            "instruction": NUMERICAL_INSTRUCTION,
            "input": stem.strip(),
            "output": answer_output(answer, explanation),
        }
    if qtype == "matching":
        text, key = matching_input(stem, answer_data)
        return {"instruction": MATCHING_INSTRUCTION, "input": text, "output": answer_output(key, explanation)}
    if qtype in ("short_answer", "essay"):
        instruction = SHORT_ANSWER_INSTRUCTION if qtype == "short_answer" else ESSAY_INSTRUCTION
        return {"instruction": instruction, "input": stem.strip(), "output": answer_output(answer.strip(), explanation)}
    return None


def question_from_record(record: dict) -> dict | None:
    """The inverse of instruction_record for records in this module's formats; None otherwise."""
    instruction = record.get("instruction", "").strip()
    text = record.get("input", "")
    parsed = parse_output(record.get("output", ""))
    if parsed.answer is None:
        return None
    explanation = parsed.explanation if parsed.explanation != record.get("output", "").strip() else ""
    common = {"explanation": explanation}
    if instruction in (SINGLE_CHOICE_INSTRUCTION, MULTIPLE_CHOICE_INSTRUCTION):
        choice = parse_choice_input(text)
        if choice is None:
            return None
        stem, options = choice
        qtype = "single_choice" if instruction == SINGLE_CHOICE_INSTRUCTION else "multiple_choice"
        return {"qtype": qtype, "stem": stem, "options": options, "answer": parsed.answer, **common}
    if instruction == TRUE_FALSE_INSTRUCTION:
        return {
            "qtype": "true_false",
            "stem": text.strip(),
            "answer": "true" if parsed.answer == "对" else "false",
            **common,
        }
    if instruction == FILL_BLANK_INSTRUCTION:
        blanks = [{"answers": [part]} for part in parsed.answer.split(BLANK_SEPARATOR)]
        return {
            "qtype": "fill_blank",
            "stem": text.strip(),
            "answer": parsed.answer,
            "answer_data": {"blanks": blanks},
            **common,
        }
    if instruction in (SHORT_ANSWER_INSTRUCTION, ESSAY_INSTRUCTION):
        qtype = "short_answer" if instruction == SHORT_ANSWER_INSTRUCTION else "essay"
        return {"qtype": qtype, "stem": text.strip(), "answer": parsed.answer, **common}
    return None


def parse_choice_input(text: str) -> tuple[str, list[dict]] | None:
    """Split an instruction record's input back into stem and options; None if it has none."""
    stem_lines: list[str] = []
    options: list[dict] = []
    for line in text.splitlines():
        match = _OPTION_LINE.match(line)
        expected = _next_key(options) if options else "A"
        if match and match.group(1) == expected:
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
        answer=answer.group(1).strip() if answer else None,
        explanation=explanation.group(1).strip() if explanation else text,
    )


def choice_output_pattern(option_keys: list[str]) -> str:
    """A regular expression for constrained decoding: a valid option letter, then the explanation."""
    keys = "".join(option_keys)
    return f"{ANSWER_PREFIX}[{keys}](\n{EXPLANATION_PREFIX}[^\\x00]*)?"
