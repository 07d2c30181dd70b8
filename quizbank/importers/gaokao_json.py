"""GAOKAO-Bench JSON (OpenLMLab/GAOKAO-Bench): Chinese college-entrance exam questions, 2010-2022.

A file is {"keywords": "2010-2022_Math_I_MCQs", "example": [{"year", "category", "question", "answer",
"analysis", "index", "score"}, ...]}. The `Results/` files repeat the same items under "keyword", with
"standard_answer" for "answer" and a model's answer and grading ("model_output", "model_correction",
"model_correction_score"): only the question is imported, nothing of the model's output.

Objective items (a list answer) carry their options inside `question` ("A. ...\\nB. ...", sometimes all
on one line, sometimes with a full-width "．"):
- ["D"] → single_choice.
- ["AC"] → multiple_choice; a correct but incomplete choice earns half the score (选对但不全得一半分,
  the rule of the national papers' multi-select questions).
- ["B", "C"] → one cloze question: several sub-questions under one shared passage. The stem keeps the
  passage and every sub-question's own text, with {#1}, {#2}, ... where each option block stood;
  answer_data["subquestions"][k] is a single_choice sub-question with its own options (each option
  with "fraction" 1.0 when correct, else 0.0) and "answers": [{"text": "<key>", "fraction": 1.0}].
  The item's `score` is per sub-question (each carries its own "（4 分）"), so the question is worth
  score × the number of sub-questions, every sub-question weighing the same. When only one option block
  is found for several answers (七选五: one list of options for every blank), each sub-question gets it.
Subjective items (a text answer, often LaTeX):
- fill-in-the-blank and dictation (名篇名句默写) → short_answer whose accepted answer is the reference
  answer as written (a leading "【答案】" label dropped); a teacher or the model grades them.
- open-ended questions and English error correction (短文改错) → essay: the reference answer is
  `answer`, the analysis the explanation.

The text is the Mathpix Markdown the bench ships: LaTeX in $...$ stays verbatim, images are ![](url),
so stem_format is "markdown". Analyses that are only a newline become "". Subject: "高考/<科目>" from
the file's keywords (SUBJECTS), else the import's default subject. Difficulty is left unset.
`source_row` is the item's 1-based position; errors also name the item's own "index".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError
from quizbank.importers.registry import Format
from quizbank.models import QuestionType

DATASET = "GAOKAO-Bench"
LICENCE = "Apache-2.0"
ROOT_SUBJECT = "高考"

# keywords token → subject name; checked in order against "_<keywords>_".
SUBJECTS = (
    ("Political_Science", "政治"),
    ("Math", "数学"),
    ("Physics", "物理"),
    ("Chemistry", "化学"),
    ("Biology", "生物"),
    ("History", "历史"),
    ("Geography", "地理"),
    ("English", "英语"),
    ("Chinese", "语文"),
)
SHORT_ANSWER_KINDS = ("Fill-in-the-Blank", "Dictation")
ERROR_CORRECTION_KIND = "Error_Correction"
ERROR_CORRECTION_INSTRUCTIONS = "参考答案每行一处改正，每处改正分值相同；超出题目规定处数的改动不计分。"

_SNIFF_EXAMPLE = re.compile(r'"example"\s*:\s*\[')
_SNIFF_KEYWORDS = re.compile(r'"keywords?"\s*:')
# An option letter: not glued to a preceding Latin letter, digit or LaTeX syntax ("\mathrm{A}", "x_A").
_MARKER = re.compile(r"(?<![A-Za-z0-9\\{}_^$])([A-G])\s*[.．]")
_SUBQUESTION_NUMBER = r"(?<![\d.．]){number}\s*[.．](?!\d)"
_ANY_SUBQUESTION_NUMBER = re.compile(_SUBQUESTION_NUMBER.format(number=r"(\d{1,2})"))
_ANSWER_LETTERS = re.compile(r"[A-G]+")
_ANSWER_LABEL = re.compile(r"^\s*(?:【答案】|【解答】|答案为[:：]|答案[:：])\s*")
# A Mathpix section heading left at the end of a page ("D. 12 个\n\n\\section{"): layout, not content.
_TRAILING_HEADING = re.compile(r"\s*\\section\*?\{[^{}]*\}?\s*$")


def sniff(head: str, file_name: str) -> bool:
    # "keyword(s)" comes first; a Results file's prompts may stand before "example".
    return head.lstrip().startswith("{") and bool(_SNIFF_KEYWORDS.search(head)) and bool(_SNIFF_EXAMPLE.search(head))


def parse(source: ImportSource) -> ParseStream:
    name = source.file_name
    data, error = source.json()
    if error:
        yield error
        return
    if not isinstance(data, dict) or not isinstance(data.get("example"), list):
        yield RowError(name, None, "example", 'a GAOKAO-Bench file is an object with an "example" list')
        return
    keywords = str(data.get("keywords") or data.get("keyword") or "")
    subject = subject_for(keywords) or source.subject
    for row, item in enumerate(data["example"], start=1):
        yield record_from_item(item, keywords=keywords, subject=subject, file_name=name, row=row)


def subject_for(keywords: str) -> str:
    """The subject path the keywords name ("2010-2022_Math_I_MCQs" → "高考/数学"), else ""."""
    padded = f"_{keywords}_"
    for token, name in SUBJECTS:
        if f"_{token}_" in padded:
            return f"{ROOT_SUBJECT}/{name}"
    return ""


def record_from_item(item, *, keywords: str, subject: str, file_name: str, row: int) -> QuestionRecord | RowError:
    if not isinstance(item, dict):
        return RowError(file_name, row, "(item)", "must be an object")
    where = f"item index {item.get('index', row - 1)}"
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        return RowError(file_name, row, "question", f"{where}: the question text is missing")
    question = _TRAILING_HEADING.sub("", question)
    try:
        score = Decimal(str(item.get("score", 1)))
    except InvalidOperation:
        return RowError(file_name, row, "score", f"{where}: {item.get('score')!r} is not a number")
    if not score.is_finite():
        return RowError(file_name, row, "score", f"{where}: {item.get('score')!r} is not a number")
    answer = item["answer"] if "answer" in item else item.get("standard_answer")
    analysis = item.get("analysis")
    common = {
        "subject": subject,
        "stem_format": "markdown",
        "explanation": analysis.strip() if isinstance(analysis, str) else "",
        "source_file": file_name,
        "source_row": row,
        "source_dataset": DATASET,
        "source_licence": LICENCE,
    }
    if isinstance(answer, list):
        return _objective(question, answer, score=score, common=common, where=where)
    if isinstance(answer, str):
        return _subjective(question, answer, keywords=keywords, score=score, common=common)
    return RowError(file_name, row, "answer", f"{where}: expected a list of option letters or a text answer")


def _subjective(question: str, answer: str, *, keywords: str, score: Decimal, common: dict) -> QuestionRecord:
    reference = _ANSWER_LABEL.sub("", answer.strip(), count=1).strip()
    if any(kind in keywords for kind in SHORT_ANSWER_KINDS):
        return QuestionRecord(
            qtype=QuestionType.SHORT_ANSWER,
            stem=question.strip(),
            answer=reference,
            answer_data={"answers": [{"text": reference, "fraction": 1.0, "feedback": ""}], "case_sensitive": False},
            score=score,
            **common,
        )
    instructions = ERROR_CORRECTION_INSTRUCTIONS if ERROR_CORRECTION_KIND in keywords else ""
    return QuestionRecord(
        qtype=QuestionType.ESSAY,
        stem=question.strip(),
        answer=reference,
        answer_data={"rubric": [], "grading_instructions": instructions},
        score=score,
        **common,
    )


# --- objective items: finding the options inside the question text --------------------------------


@dataclass(frozen=True)
class _Marker:
    start: int  # where "A." begins
    end: int  # where the option's text begins
    letter: str


def _objective(question: str, answer: list, *, score: Decimal, common: dict, where: str) -> QuestionRecord | RowError:
    file_name, row = common["source_file"], common["source_row"]
    keys = [str(key).strip().upper() for key in answer]
    if not keys or not all(_ANSWER_LETTERS.fullmatch(key) for key in keys):
        return RowError(file_name, row, "answer", f"{where}: {answer!r} is not a list of option letters like ['B']")
    runs = _option_runs(question)
    if not runs or (len(runs) < len(keys) and len(runs) != 1):
        found = f"found {len(runs)} option list(s) for {len(keys)} answer(s)" if runs else "found none"
        return RowError(
            file_name,
            row,
            "question",
            f"{where}: cannot find the options (A. ... B. ...) in the question text; {found}",
        )
    if len(keys) == 1:
        run = runs[-1]
        options = [{"key": key, "text": text} for key, text in _option_texts(question, run, stop=len(question))]
        multiple = len(keys[0]) > 1
        return QuestionRecord(
            qtype=QuestionType.MULTIPLE_CHOICE if multiple else QuestionType.SINGLE_CHOICE,
            stem=question[: run[0].start].strip(),
            options=options,
            answer=keys[0],
            score=score,
            partial_score=score / 2 if multiple else None,
            **common,
        )
    return _cloze(question, keys, runs, score=score, common=common, where=where)


def _option_runs(text: str) -> list[list[_Marker]]:
    """The option lists of a text: runs of markers A., B., C., ... in order, two options or more.

    A marker out of sequence is text ("E．E．里奇" in a passage) unless the expected letter never comes
    before the next list: then a repeated letter is an OCR slip for the expected one ("A. B. C. B." is
    read as A-D).
    """
    marks = [_Marker(match.start(), match.end(), match.group(1)) for match in _MARKER.finditer(text)]
    runs: list[list[_Marker]] = []
    i = 0
    while i < len(marks):
        if marks[i].letter != "A":
            i += 1
            continue
        run = [marks[i]]
        j = i + 1
        while j < len(marks) and marks[j].letter != "A":
            expected = chr(ord(run[-1].letter) + 1)
            mark = marks[j]
            if mark.letter == expected:
                run.append(mark)
            else:
                next_list = next((k for k in range(j + 1, len(marks)) if marks[k].letter == "A"), len(marks))
                expected_later = any(marks[k].letter == expected for k in range(j + 1, next_list))
                repeated = mark.letter in {m.letter for m in run}
                if not expected_later and repeated and len(run) >= 3:
                    run.append(_Marker(mark.start, mark.end, expected))
            j += 1
        if len(run) >= 2:
            runs.append(run)
        i = j
    return runs


def _option_texts(text: str, run: list[_Marker], *, stop: int) -> list[tuple[str, str]]:
    bounds = [mark.start for mark in run[1:]] + [stop]
    return [(mark.letter, text[mark.end : end].strip()) for mark, end in zip(run, bounds, strict=True)]


def _cloze(
    question: str, keys: list[str], runs: list, *, score: Decimal, common: dict, where: str
) -> QuestionRecord | RowError:
    file_name, row = common["source_file"], common["source_row"]
    if len(runs) == 1:
        # One option list for every blank (七选五): the sub-questions share it.
        run = runs[0]
        shared = _option_texts(question, run, stop=len(question))
        stems = [question[: run[0].start]]
        option_lists = [shared] * len(keys)
        markers = " ".join(f"{{#{number}}}" for number in range(1, len(keys) + 1))
        stem = f"{stems[0].strip()}\n{markers}"
    else:
        runs = runs[-len(keys) :]
        first_number = _first_subquestion_number(question[: runs[0][0].start])
        stems, option_lists = [question[: runs[0][0].start]], []
        for k, run in enumerate(runs):
            if k + 1 == len(runs):
                option_lists.append(_option_texts(question, run, stop=len(question)))
                break
            next_start = runs[k + 1][0].start
            expected = first_number + k + 1 if first_number is not None else None
            split = _next_subquestion_start(question, run[-1].end, next_start, expected)
            option_lists.append(_option_texts(question, run, stop=split))
            stems.append(question[split:next_start])
        stem = "\n".join(f"{text.strip()} {{#{number}}}" for number, text in enumerate(stems, start=1))
    subquestions = []
    for number, (key, options) in enumerate(zip(keys, option_lists, strict=True), start=1):
        letters = [letter for letter, _ in options]
        if len(key) != 1 or key not in letters:
            return RowError(
                file_name,
                row,
                "answer",
                f"{where}: sub-question {number} answer {key!r} is not one of its options {', '.join(letters)}",
            )
        empty = [letter for letter, text in options if not text]
        if empty:
            return RowError(file_name, row, "question", f"{where}: sub-question {number} option {empty[0]} has no text")
        subquestions.append(
            {
                "type": QuestionType.SINGLE_CHOICE.value,
                "weight": 1,
                "options": [
                    {"key": letter, "text": text, "fraction": 1.0 if letter == key else 0.0} for letter, text in options
                ],
                "answers": [{"text": key, "fraction": 1.0}],
            }
        )
    return QuestionRecord(
        qtype=QuestionType.CLOZE,
        stem=stem.strip(),
        answer="；".join(keys),
        answer_data={"subquestions": subquestions},
        score=score * len(keys),
        **common,
    )


def _first_subquestion_number(preamble: str) -> int | None:
    """The number of the first sub-question: the last "1．" in the text before its options."""
    numbers = _ANY_SUBQUESTION_NUMBER.findall(preamble)
    return int(numbers[-1]) if numbers else None


def _next_subquestion_start(text: str, start: int, end: int, expected: int | None) -> int:
    """Where the next sub-question's own text begins, between an option list's last option and the next list.

    Its number ("2．", "10．") when found, else the first line break after the last option's text, else
    nowhere (the sub-question has no text of its own).
    """
    segment = text[start:end]
    patterns = []
    if expected is not None:
        patterns.append(re.compile(_SUBQUESTION_NUMBER.format(number=expected)))
    patterns.append(_ANY_SUBQUESTION_NUMBER)
    for pattern in patterns:
        match = pattern.search(segment)
        if match and segment[: match.start()].strip():
            return start + match.start()
    content = len(segment) - len(segment.lstrip())
    newline = segment.find("\n", content)
    return start + newline if newline > content else end


FORMAT = Format(name="gaokao-bench", label="GAOKAO-Bench JSON", extensions=(".json",), parse=parse, sniff=sniff)
