"""The pasted-text format many Chinese teachers type into exam systems (xmky-exam's import box).

    1.这是一道多选题的题干，       a numbered stem (`1.` `1、` `1．`), lines may follow
    题干可换行。
    A.选项一                      options: a letter and `.` `。` `、`
    B。选项二
    [AB][3分][1分]                the answer line: [answer][score][partial score]
    [解析]解析文字，               the explanation, up to the next question
    可以多行

Answer line groups, in any order after the answer: `[3分]` scores, `[答案无顺序]`,
`[不区分大小写]`, `[主观题]`; `[解析]` may also follow on the same line. The answer group may
run over several lines (`[第一行\n第二行][10分]`).

The type follows from the parts:
- options: one letter → single choice, several → multiple choice. The second score is the
  漏选分 (partial score for a correct subset), by default half the score.
- `_____` (five or more underscores) in the stem: fill in the blanks. `[北京 上海]` gives one
  answer per blank; `[山西 山西省 晋][老婆 媳妇 内人]` gives each blank its group, the words of
  a group being accepted alternatives. Each blank's score is its `[n分]` in order (1 if missing);
  the question's score is their sum. With `[主观题]` a teacher grades it: short answer.
- an answer of 对/错/√/×/是/否 (正确/错误): true/false.
- otherwise: a question answered in words (问答), short answer graded by a teacher or the model.

A new question starts at a numbered line after a blank line, or right after an answer line;
inside an explanation a numbered line without a blank line before it continues the
explanation, unless an answer line follows it. Headings such as `一、单选题` are skipped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError
from quizbank.importers.registry import Format
from quizbank.importers.table_cells import fill_blank_data, json_number, short_answer_data, true_false_data
from quizbank.models import QuestionType

STEM = re.compile(r"^\s*(\d{1,4})\s*[.、．](?!\d)\s*(.*)$")
OPTION = re.compile(r"^\s*([A-ZＡ-Ｚ])\s*[.。、．]\s*(.*)$")
HEADING = re.compile(r"^\s*[一二三四五六七八九十]+\s*[、.．]")
EXPLANATION_MARK = "[解析]"
BLANK = re.compile(r"_{5,}")
SCORE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*分\s*$")
GROUP = re.compile(r"\[([^\[\]]*)\]")
TRUE_WORDS = {"对", "√", "✓", "是", "正确"}
FALSE_WORDS = {"错", "×", "✗", "✕", "否", "错误"}
ORDER_FREE = {"答案无顺序"}
CASE_INSENSITIVE = {"不区分大小写", "大小写不敏感", "不分大小写"}
SUBJECTIVE = {"主观题"}
_BRACKETS = str.maketrans({"［": "[", "］": "]"})


def sniff(head: str, file_name: str) -> bool:
    lines = head.splitlines()
    for index, line in enumerate(lines):
        if STEM.match(line):
            for following in lines[index + 1 : index + 30]:
                if following.lstrip().translate(_BRACKETS).startswith("[") and EXPLANATION_MARK not in following:
                    return True
                if STEM.match(following):
                    break
    return False


@dataclass
class _Question:
    line: int
    stem: list[str] = field(default_factory=list)
    options: list[dict] = field(default_factory=list)
    answer_text: str = ""  # the bracket groups, as written
    answer_line: int = 0
    explanation: list[str] | None = None  # None until [解析]
    problem: tuple[str, str] | None = None

    def fail(self, field_name: str, message: str) -> None:
        if self.problem is None:
            self.problem = (field_name, message)


def _is_answer_line(line: str) -> bool:
    return line.lstrip().translate(_BRACKETS).startswith("[") and not line.lstrip().startswith(EXPLANATION_MARK)


def _bracket_depth(text: str) -> int:
    return text.count("[") - text.count("]")


def parse(source: ImportSource) -> ParseStream:
    name = source.file_name
    lines = source.text().splitlines()
    current: _Question | None = None
    after_blank = True
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index].rstrip()
        index += 1
        if not line.strip():
            after_blank = True
            if current is not None and current.explanation is not None:
                current.explanation.append("")
            elif current is not None and current.stem and not current.options and not current.answer_text:
                current.stem.append("")
            continue
        was_after_blank, after_blank = after_blank, False
        if HEADING.match(line) and (current is None or (was_after_blank and current.answer_text)):
            continue  # 一、单选题
        stem = STEM.match(line)
        if stem and _starts_question(current, was_after_blank, lines, index):
            if current is not None:
                yield _finish(current, name, source.subject)
            current = _Question(line=number, stem=[stem.group(2)])
            continue
        if current is None:
            continue  # a title or instructions above the first question
        if current.explanation is not None:
            current.explanation.append(line)
            continue
        if line.lstrip().startswith(EXPLANATION_MARK):
            if not current.answer_text:
                current.fail("answer", f"line {number}: [解析] comes before any answer line like [B]")
            current.explanation = [line.lstrip()[len(EXPLANATION_MARK) :]]
            continue
        if _is_answer_line(line):
            text = line.strip().translate(_BRACKETS)
            first = number
            # an answer may run over several lines, up to its closing ] (never past a blank line)
            while _bracket_depth(text) > 0 and index < len(lines) and lines[index].strip():
                text += "\n" + lines[index].rstrip().translate(_BRACKETS)
                index += 1
            if _bracket_depth(text) != 0:
                current.fail("answer", f"line {first}: a '[' is not closed by ']'")
            head, mark, rest = text.partition(EXPLANATION_MARK)
            current.answer_text += head
            current.answer_line = current.answer_line or first
            if mark:
                current.explanation = [rest]
            continue
        if current.answer_text:
            current.fail(
                "stem",
                f"line {number}: {line.strip()[:30]!r} follows the answer line; start a new "
                "question with its number (e.g. '2.') or the explanation with [解析]",
            )
            continue
        option = OPTION.match(line)
        if option and current.stem:
            expected = chr(ord(current.options[-1]["key"]) + 1) if current.options else "A"
            if unicodedata.normalize("NFKC", option.group(1)) == expected:
                current.options.append({"key": expected, "text": option.group(2).strip()})
                continue
        if current.options:
            current.options[-1]["text"] += "\n" + line.strip()  # an option that runs over several lines
        else:
            current.stem.append(line)
    if current is not None:
        yield _finish(current, name, source.subject)


def _starts_question(current: _Question | None, after_blank: bool, lines: list[str], next_index: int) -> bool:
    """Whether a numbered line begins a question rather than continuing the current one."""
    if current is None or after_blank:
        return True
    if current.explanation is None:
        return bool(current.answer_text) or bool(current.options)
    # inside an explanation: only if an answer line follows before a blank line
    for following in lines[next_index:]:
        if not following.strip() or STEM.match(following) or following.lstrip().startswith(EXPLANATION_MARK):
            return False
        if _is_answer_line(following):
            return True
    return False


def _finish(question: _Question, file_name: str, subject: str) -> QuestionRecord | RowError:
    def error(field_name: str, message: str) -> RowError:
        return RowError(file_name, question.line, field_name, message)

    if question.problem:
        return error(*question.problem)
    stem = "\n".join(question.stem).strip()
    if not stem:
        return error("stem", f"line {question.line}: the question has no text after its number")
    if not question.answer_text:
        return error("answer", f"{stem[:30]!r} (line {question.line}) has no answer line like [B] or [对]")
    leftover = GROUP.sub("", question.answer_text).strip()
    if leftover:
        return error("answer", f"line {question.answer_line}: {leftover[:30]!r} is outside the [ ] brackets")
    answers, scores, flags = [], [], set()
    for group in GROUP.findall(question.answer_text):
        text = group.strip()
        if score := SCORE.match(text):
            scores.append(Decimal(score.group(1)))
        elif text in ORDER_FREE | CASE_INSENSITIVE | SUBJECTIVE:
            flags.add(text)
        else:
            answers.append(text)
    if not answers:
        return error(
            "answer",
            f"line {question.answer_line}: the answer line gives no answer, only {question.answer_text.strip()!r}",
        )
    record = QuestionRecord(
        subject=subject,
        qtype=QuestionType.SHORT_ANSWER,
        stem=stem,
        explanation="\n".join(question.explanation or []).strip(),
        score=scores[0] if scores else Decimal(1),
        source_file=file_name,
        source_row=question.line,
    )
    case_sensitive = not flags & CASE_INSENSITIVE
    blanks = len(BLANK.findall(stem))
    if question.options:
        problem = _choice(record, question, answers, scores)
    elif blanks:
        problem = _fill_blank(record, answers, scores, blanks, flags, case_sensitive)
    elif len(answers) == 1 and answers[0] in TRUE_WORDS | FALSE_WORDS:
        record.qtype = QuestionType.TRUE_FALSE
        record.answer = "true" if answers[0] in TRUE_WORDS else "false"
        record.answer_data = true_false_data()
        problem = None
    else:
        record.answer = answers[0]
        record.answer_data = short_answer_data(answers, case_sensitive=case_sensitive)
        problem = None
    if problem:
        return error("answer", f"line {question.answer_line}: {problem}")
    return record


def _choice(record: QuestionRecord, question: _Question, answers: list[str], scores: list[Decimal]) -> str | None:
    if len(answers) != 1:
        return f"a choice question has one answer group like [AB], found {len(answers)}"
    letters = re.sub(r"[\s,，、]", "", unicodedata.normalize("NFKC", answers[0])).upper()
    keys = [option["key"] for option in question.options]
    if not letters or any(letter not in keys for letter in letters):
        return f"[{answers[0]}] must be the letter(s) of the correct option(s) among {', '.join(keys)}"
    chosen = [key for key in keys if key in letters]
    record.options = question.options
    record.answer = "".join(chosen)
    if len(chosen) == 1:
        record.qtype = QuestionType.SINGLE_CHOICE
    else:
        record.qtype = QuestionType.MULTIPLE_CHOICE
        record.partial_score = scores[1] if len(scores) > 1 else record.score / 2
    return None


def _fill_blank(
    record: QuestionRecord, answers: list[str], scores: list[Decimal], blanks: int, flags: set, case_sensitive: bool
) -> str | None:
    if len(answers) == blanks:
        groups = [group.split() for group in answers]  # one group per blank, words are alternatives
    elif len(answers) == 1 and len(answers[0].split()) == blanks:
        groups = [[word] for word in answers[0].split()]  # [北京 上海]: one answer per blank
    else:
        return (
            f"the stem has {blanks} blank(s) (_____) but the answers give {len(answers)} group(s); write "
            "[北京 上海] (one word per blank) or [山西 山西省][老婆 媳妇] (one group per blank)"
        )
    if len(scores) > blanks:
        return f"{len(scores)} scores for {blanks} blank(s)"
    blank_scores = scores + [Decimal(1)] * (blanks - len(scores))  # a blank without a score counts 1
    record.score = sum(blank_scores, Decimal(0))
    if flags & SUBJECTIVE:
        # graded by a teacher ([答案无顺序][不区分大小写] do not apply): the answers become the reference
        reference = "；".join("/".join(group) for group in groups)
        record.answer = reference
        record.answer_data = short_answer_data([reference], case_sensitive=True)
        return None
    record.qtype = QuestionType.FILL_BLANK
    record.answer = "；".join(group[0] for group in groups)
    record.answer_data = fill_blank_data(
        groups,
        [json_number(score) for score in blank_scores],
        order_free="答案无顺序" in flags,
        case_sensitive=case_sensitive,
    )
    return None


FORMAT = Format(
    name="pasted-text",
    label="Pasted text (1. 题干 / A. 选项 / [答案])",
    extensions=(".txt",),
    parse=parse,
    sniff=sniff,
    rows_are_lines=True,
)
