"""A first mapping (quizbank/importers/mapping.py) for a file no importer knows, guessed from its first records.

`sample_records` reads the first records of a jsonl, json, csv or xlsx file; `mapping_guess` proposes,
for each question field, the path most likely to hold it: by the key's name (question, problem, 题干,
...) and by the shape of its values (a list of "(A) ..." texts is options with strip_letter, a letter is
an answer as letters, an integer an index). The teacher corrects what it gets wrong before importing,
so a guess is a proposal, never applied unseen. `record_fields` lists a record's paths with a sample
value each, and `mapping_fits` says whether a saved mapping's paths are all in a file's first record.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from quizbank.importers.base import BankImportError, read_head, read_text
from quizbank.importers.csv_table import csv_delimiter
from quizbank.importers.mapping import Missing, parse_path, resolve
from quizbank.importers.table_cells import cell_text, parse_difficulty, parse_type
from quizbank.importers.xlsx_table import sheet_rows

SAMPLE_RECORDS = 20
SAMPLE_TEXT_BYTES = 1024 * 1024  # a jsonl or csv file's first records are in its first megabyte
NESTING = 3  # how deep inside a record's objects paths are looked for

# key names that suggest each field, the likeliest first
NAMES: dict[str, tuple[str, ...]] = {
    "stem": ("question", "problem", "stem", "题干", "题目", "问题", "question_text", "query", "prompt", "text", "q"),
    "options": ("options", "choices", "answer_option_list", "option_list", "选项", "candidates", "option", "choice"),
    "answer": (
        "answer",
        "label",
        "answer_value",
        "答案",
        "correct_answer",
        "正确答案",
        "标准答案",
        "correct",
        "gold",
        "target",
        "answer_key",
        "ans",
    ),
    "explanation": ("explanation", "analysis", "solution", "解析", "answer_analysis", "rationale", "explain", "分析"),
    "type": ("type", "qtype", "question_type", "题型", "类型"),
    "subject": ("subject", "学科", "科目", "category", "discipline", "course"),
    "difficulty": ("difficulty", "level", "难度", "难易度"),
    "knowledge_points": ("knowledge_points", "knowledge_point", "knowledge_point_routes", "知识点", "考点"),
    "source": ("source", "dataset", "dataset_name", "来源", "出处", "origin"),
}
GUESSED_FIELDS = tuple(NAMES)
# members of an option object holding its letter, and its text
OPTION_KEYS = ("key", "label", "letter", "aoval", "id", "option", "choice", "标号")
OPTION_TEXTS = ("text", "content", "value", "option_text", "desc", "description", "body", "内容")
# short type words the table's rules do not take, and what they mean
TYPE_WORDS = {
    "单选": "single_choice",
    "多选": "multiple_choice",
    "判断": "true_false",
    "填空": "fill_blank",
    "简答": "short_answer",
    "解答": "short_answer",
}
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv", ".xlsx": "xlsx"}

_LETTER_PREFIX = re.compile(r"^\s*(?:[(（]\s*[A-Za-z]\s*[)）]|[A-Za-z]\s*[.．)）、:：])")
_LETTERS = re.compile(r"^[A-Z](?:\s*[,，、;；|]?\s*[A-Z])*$")
_BRACKETS = re.compile(r"[()（）\[\]【】]")
_OPTION_COLUMN = re.compile(r"^(?:option|opt|choice|选项|选择)?[\s_\-]*([A-Za-z])$", re.IGNORECASE)
_PLAIN_KEY = re.compile(r"^[^.\[\]]+$")


@dataclass(frozen=True)
class Sample:
    """The first records of a file: objects (jsonl, json) or {column: cell} (csv, xlsx)."""

    format: str
    records: list[dict] = field(default_factory=list)
    records_path: str = ""  # json: where the list of records is
    problem: str = ""  # why no record could be read

    @property
    def is_table(self) -> bool:
        return self.format in ("csv", "xlsx")


# --- the first records ------------------------------------------------------------------------------


def sample_records(path: Path, *, file_name: str, limit: int = SAMPLE_RECORDS) -> Sample:
    """The first `limit` records of the file, in the format its extension (or its content) says."""
    fmt = EXTENSIONS.get(Path(file_name).suffix.lower(), "")
    try:
        if fmt == "xlsx":
            return _table_sample("xlsx", sheet_rows(path), limit)
        if fmt == "csv":
            text = read_head(path, SAMPLE_TEXT_BYTES).lstrip("\ufeff")
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(text.split("\n", 1)[0]))
            return _table_sample("csv", enumerate(reader, start=1), limit, cut=len(text) >= SAMPLE_TEXT_BYTES // 2)
        if fmt == "json":
            return _json_sample(read_text(path, file_name=file_name), limit)
        return _jsonl_sample(read_head(path, SAMPLE_TEXT_BYTES), limit, fmt or "jsonl")
    except BankImportError as exc:
        return Sample(fmt or "jsonl", problem=exc.errors[0].message)
    except (zipfile.BadZipFile, KeyError, ValueError, csv.Error) as exc:
        return Sample(fmt, problem=f"cannot be read as {fmt}: {exc}")


def _table_sample(fmt: str, rows, limit: int, *, cut: bool = False) -> Sample:
    headers: list[str] | None = None
    records: list[dict] = []
    for _, values in rows:
        texts = [cell_text(value) for value in values]
        if not any(texts):
            continue
        if headers is None:
            headers = texts
            continue
        records.append({header: text for header, text in zip(headers, texts, strict=False) if header})
        if len(records) >= limit:
            break
    if cut and records and len(records) < limit:
        records.pop()  # the last row read may be cut at the sample's end
    if headers is None:
        return Sample(fmt, problem="is empty: no header row naming the columns")
    if not records:
        return Sample(fmt, records=[dict.fromkeys(header for header in headers if header)], problem="has no rows")
    return Sample(fmt, records=records)


def _jsonl_sample(head: str, limit: int, fmt: str) -> Sample:
    records = []
    lines = head.lstrip("\ufeff").split("\n")
    if len(head) >= SAMPLE_TEXT_BYTES // 2:
        lines = lines[:-1]  # the last line may be cut at the sample's end
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            if not records and fmt == "jsonl" and number == 1:
                return Sample("jsonl", problem=f"line 1 is not JSON ({exc.msg}): not a file of one JSON object a line")
            if not records:
                return Sample(fmt, problem=f"line {number} is not JSON ({exc.msg})")
            break
        if isinstance(item, dict):
            records.append(item)
        if len(records) >= limit:
            break
    if not records:
        return Sample("jsonl", problem="has no JSON object on its first lines")
    return Sample("jsonl", records=records)


def _json_sample(text: str, limit: int) -> Sample:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one JSON value a line
            return _jsonl_sample(text[:SAMPLE_TEXT_BYTES], limit, "json")
        return Sample("json", problem=f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    path, records = _largest_record_list(data)
    if records is None:
        return Sample("json", problem="holds no list of objects to read as records")
    return Sample("json", records=[item for item in records if isinstance(item, dict)][:limit], records_path=path)


def _largest_record_list(data, path: str = "", depth: int = 0) -> tuple[str, list | None]:
    """The path to the longest list of objects in the document ("" for the document itself)."""
    best: tuple[str, list | None] = (path, data) if _is_record_list(data) else ("", None)
    if isinstance(data, dict) and depth < NESTING + 1:
        for key, value in data.items():
            if not isinstance(key, str) or not _PLAIN_KEY.match(key):
                continue
            found = _largest_record_list(value, f"{path}.{key}" if path else key, depth + 1)
            if found[1] is not None and (best[1] is None or len(found[1]) > len(best[1])):
                best = found
    return best


def _is_record_list(value) -> bool:
    return isinstance(value, list) and bool(value) and sum(isinstance(item, dict) for item in value) * 2 > len(value)


# --- a record's paths -------------------------------------------------------------------------------


def record_paths(record: dict, prefix: str = "", depth: int = 0) -> dict[str, object]:
    """Every path into the record's objects (not into lists), with its value."""
    found: dict[str, object] = {}
    for key, value in record.items():
        if not isinstance(key, str) or not _PLAIN_KEY.match(key) or not key.strip():
            continue
        path = f"{prefix}.{key}" if prefix else key
        found[path] = value
        if isinstance(value, dict) and depth < NESTING:
            found.update(record_paths(value, path, depth + 1))
    return found


def record_fields(record: dict, *, width: int = 80) -> list[tuple[str, str]]:
    """The record's paths with a sample value each, as the teacher reads them to correct a mapping:
    objects are opened, and the first element of a list of objects (or of one-object lists) too."""
    rows = []
    for path, value in record_paths(record).items():
        if isinstance(value, dict):
            continue
        rows.append((path, _shown(value, width)))
        first = value[0] if isinstance(value, list) and value else None
        inner = f"{path}[*]"
        if isinstance(first, list) and len(first) == 1 and isinstance(first[0], dict):
            first, inner = first[0], f"{path}[*][0]"
        if isinstance(first, dict):
            rows += [(f"{inner}.{key}", _shown(item, width)) for key, item in record_paths(first).items()]
    return rows


def _shown(value, width: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


# --- the guess --------------------------------------------------------------------------------------


def mapping_guess(sample: Sample) -> dict:
    """A mapping (as JSON data) for the sample's records: each field the likeliest path, or left out."""
    mapping: dict = {"format": sample.format}
    if sample.records_path:
        mapping["records"] = sample.records_path
    columns = _columns(sample)
    fields: dict = {}
    used: set[str] = set()
    for name in GUESSED_FIELDS:
        spec = _guess_field(name, columns, used, fields, sample)
        if spec is not None:
            fields[name] = spec
            used.update(_spec_paths(spec))
    if "type" not in fields and _one_letter_each(fields.get("answer"), columns):
        # said, not left to the table's rules: they would read an answer "F" or "T" as false or true
        fields["type"] = {"const": "single_choice"}
    mapping["fields"] = fields
    return mapping


def _one_letter_each(answer, columns: dict[str, list]) -> bool:
    """Whether the guessed answer is letters, one in each sampled record."""
    if not isinstance(answer, dict) or answer.get("as") != "letters" or "map" in answer:
        return False
    values = _present(columns[answer["path"]])
    letters = [
        _BRACKETS.sub("", cell_text(value[0] if isinstance(value, list) and len(value) == 1 else value))
        for value in values
    ]
    return bool(letters) and all(len(letter.strip()) == 1 for letter in letters)


def _columns(sample: Sample) -> dict[str, list]:
    """Each path found in any sampled record, with its value in each record (None where absent)."""
    paths: dict[str, None] = {}
    flat = [record if sample.is_table else record_paths(record) for record in sample.records]
    for record in flat:
        paths.update(dict.fromkeys(record))
    return {path: [record.get(path) for record in flat] for path in paths}


def _spec_paths(spec) -> list[str]:
    """The paths a guessed field takes (options read from options.A, options.B, ... take options too)."""
    paths = spec if isinstance(spec, str) else spec.get("path", [])
    roots = [path.split("[")[0] for path in ([paths] if isinstance(paths, str) else paths)]
    if len(roots) > 1:
        roots += [root.rsplit(".", 1)[0] for root in roots if "." in root]
    return roots


def _taken(path: str, used: set[str]) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:depth]) in used for depth in range(1, len(parts) + 1))


def _name_score(path: str, name: str) -> float:
    key = _key(path.rsplit(".", 1)[-1])
    hints = [_key(hint) for hint in NAMES[name]]
    if key in hints:
        return 100.0 - hints.index(key)
    for rank, hint in enumerate(hints):
        if len(hint) > 1 and (hint in key or (len(key) > 2 and key in hint)):
            return 50.0 - rank
    return 0.0


def _key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", text).lower())


def _present(values: list) -> list:
    return [value for value in values if value is not None and value != "" and value != []]


def _best(name: str, columns: dict[str, list], used: set[str], fits, *, shape_only: float = 0.0):
    """The path whose name and values suit the field best; `shape_only` scores a good shape unnamed."""
    best, best_score = None, 0.0
    for path, values in columns.items():
        if _taken(path, used):
            continue
        present = _present(values)
        if not present:
            continue
        share = sum(1 for value in present if fits(value)) / len(values)
        if share < 0.5:
            continue
        score = (_name_score(path, name) or shape_only) * share
        if score > best_score:
            best, best_score = path, score
    return best


def _guess_field(name: str, columns: dict[str, list], used: set[str], fields: dict, sample: Sample):
    if name == "options":
        return _guess_options(columns, used, sample)
    if name == "answer":
        return _guess_answer(columns, used, fields, sample)
    if name == "type":
        return _guess_type(columns, used)
    if name == "difficulty":
        return _best(name, columns, used, lambda value: parse_difficulty(cell_text(value)) is not None)
    if name == "knowledge_points":
        return _best(name, columns, used, lambda value: _is_text(value) or _is_text_list(value))
    if name == "stem":
        found = _best(name, columns, used, _is_text)
        return found or _longest_text(columns, used)
    return _best(name, columns, used, lambda value: _is_text(value) or _is_text_list(value))


def _is_text(value) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool) and cell_text(value).strip() != ""


def _is_text_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, str) for item in value)


def _longest_text(columns: dict[str, list], used: set[str]) -> str | None:
    lengths = {
        path: sum(len(value) for value in values if isinstance(value, str)) / len(values)
        for path, values in columns.items()
        if not _taken(path, used) and any(isinstance(value, str) for value in values)
    }
    return max(lengths, key=lengths.__getitem__) if lengths else None


def _guess_type(columns: dict[str, list], used: set[str]):
    def fits(value) -> bool:
        return _is_text(value) and _type_of(cell_text(value)) is not None

    path = _best("type", columns, used, fits)
    if path is None:
        return None  # the table's rules infer it from the options and the answer
    words = {cell_text(value) for value in _present(columns[path])}
    table = {word: TYPE_WORDS[_key(word)] for word in sorted(words) if parse_type(word) is None and _type_of(word)}
    return {"path": path, "map": table} if table else path


def _type_of(word: str) -> str | None:
    return parse_type(word) or TYPE_WORDS.get(_key(word))


# --- options and the answer -------------------------------------------------------------------------


def _guess_options(columns: dict[str, list], used: set[str], sample: Sample):
    path = _best("options", columns, used, _option_shape, shape_only=10.0)
    if path is not None:
        return _options_spec(path, _present(columns[path]))
    letters: dict[str, str] = {}
    for column in columns:
        match = _OPTION_COLUMN.match(column) if "." not in column and not _taken(column, used) else None
        if match and (len(column) > 1 or column.isupper()):
            letters.setdefault(match.group(1).upper(), column)
    run = ""
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if letter not in letters:
            break
        run += letter
    return {"path": [letters[letter] for letter in run]} if len(run) >= 2 else None


def _option_shape(value) -> bool:
    if isinstance(value, dict):
        return len(value) >= 2 and all(_is_letter_key(key) for key in value)
    if not isinstance(value, list) or len(value) < 2:
        return False
    items = [item[0] if isinstance(item, list) and len(item) == 1 else item for item in value]
    if all(isinstance(item, str) for item in items):
        return True
    return all(isinstance(item, dict) for item in items) and _text_member(items) is not None


def _is_letter_key(key) -> bool:
    return isinstance(key, str) and len(key.strip()) == 1 and key.strip().isalpha() and key.strip().isascii()


def _options_spec(path: str, values: list):
    first = values[0]
    if isinstance(first, dict):
        keys = sorted({key.strip().upper() for value in values if isinstance(value, dict) for key in value})
        return {"path": [f"{path}.{key}" for key in keys if key in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]}
    nested = any(isinstance(item, list) for value in values for item in value)
    items = [item[0] if isinstance(item, list) and item else item for value in values for item in value]
    if all(isinstance(item, str) for item in items):
        prefixed = sum(1 for item in items if _LETTER_PREFIX.match(item))
        return {"path": path, "strip_letter": True} if prefixed * 2 > len(items) else path
    objects = [item for item in items if isinstance(item, dict)]
    text = _text_member(objects)
    spec: dict = {"path": f"{path}[*][0]" if nested else path}
    key = _key_member(objects, text)
    if key:
        spec["key"] = key
    spec["text"] = text
    return spec


def _text_member(objects: list[dict]) -> str | None:
    members = [key for key in objects[0] if all(isinstance(item.get(key), str | int | float) for item in objects)]
    for hint in OPTION_TEXTS:
        named = [key for key in members if _key(key) == hint]
        if named:
            return named[0]
    texts = [key for key in members if not all(_is_letter_key(cell_text(item[key])) for item in objects)]
    if not texts:
        return None
    return max(texts, key=lambda key: sum(len(cell_text(item[key])) for item in objects))


def _key_member(objects: list[dict], text: str | None) -> str | None:
    letters = [
        key for key in objects[0] if key != text and all(_is_letter_key(cell_text(item.get(key))) for item in objects)
    ]
    named = [key for key in letters if _key(key) in OPTION_KEYS]
    return (named or letters or [None])[0]


def _guess_answer(columns: dict[str, list], used: set[str], fields: dict, sample: Sample):
    options = fields.get("options")
    if options is None:
        return _best("answer", columns, used, lambda value: _is_text(value) or _is_text_list(value))
    texts = [_option_texts(record, options, sample) for record in sample.records]

    def kinds(path: str) -> list[set[str]]:
        return [_answer_kinds(value, record_texts) for value, record_texts in zip(columns[path], texts, strict=True)]

    def fits_somewhere(path: str) -> bool:
        found = [kind for kind in kinds(path) if kind]
        return len(found) * 2 >= len(texts) and bool(set.intersection(*found))

    candidates = {path: values for path, values in columns.items() if fits_somewhere(path)}
    path = _best("answer", candidates, used, lambda value: True, shape_only=5.0)
    if path is None:
        return _best("answer", columns, used, lambda value: _is_text(value) or _is_text_list(value))
    common = set.intersection(*[kind for kind in kinds(path) if kind])
    for kind in ("letters", "index", "one-based", "text"):
        if kind in common:
            break
    if kind == "one-based":
        most = max(len(record_texts) for record_texts in texts)
        return {"path": path, "map": {str(n + 1): chr(ord("A") + n) for n in range(most)}, "as": "letters"}
    return {"path": path, "as": kind}


def _answer_kinds(value, texts: list[str]) -> set[str]:
    """How the value can be read as a choice answer, given its record's option texts."""
    count = len(texts) or 26
    if isinstance(value, bool) or value is None:
        return set()
    if isinstance(value, int):
        kinds = {"index"} if 0 <= value < count else set()
        return kinds | ({"one-based"} if 1 <= value <= count else set())
    if isinstance(value, list):
        parts = [_answer_kinds(item, texts) for item in value]
        return set.intersection(*parts) & {"letters", "text"} if parts else set()
    if not isinstance(value, str):
        return set()
    kinds = set()
    letters = _BRACKETS.sub("", value).strip().upper()
    if _LETTERS.match(letters) and all(ord(letter) - ord("A") < count for letter in re.sub(r"[^A-Z]", "", letters)):
        kinds.add("letters")
    if value.strip() and value.strip() in texts:
        kinds.add("text")
    return kinds


def _option_texts(record: dict, spec, sample: Sample) -> list[str]:
    """The option texts of one record as the guessed options spec reads them ([] where it cannot)."""
    spec = {"path": spec} if isinstance(spec, str) else spec
    paths = spec["path"] if isinstance(spec["path"], list) else [spec["path"]]
    values = []
    for path in paths:
        try:
            value = record[path] if sample.is_table else resolve(record, parse_path(path))
        except (Missing, KeyError):
            continue
        values += value if isinstance(value, list) and len(paths) == 1 else [value]
    texts = []
    for value in values:
        if "text" in spec and isinstance(value, dict):
            value = value.get(spec["text"])
        text = cell_text(value) if isinstance(value, str | int | float) else ""
        if spec.get("strip_letter"):
            text = _LETTER_PREFIX.sub("", text, count=1)
        texts.append(text.strip())
    return texts


# --- a saved mapping against a file -----------------------------------------------------------------


def mapping_fits(data: dict, sample: Sample) -> bool:
    """Whether a saved mapping reads this kind of file: its format, its records path, and every path
    of its fields in the file's first record (one of them, for options read from several)."""
    from quizbank.importers.mapping import mapping_parse

    if not sample.records or not isinstance(data, dict):
        return False
    try:
        mapping = mapping_parse(data, file_name="mapping")
    except BankImportError:
        return False
    if mapping.format != sample.format or mapping.records != sample.records_path:
        return False
    first = sample.records[0]
    for spec in mapping.fields.values():
        if spec.paths and not any(_has_path(mapping, first, path) for path in spec.paths):
            return False
    return True


def _has_path(mapping, record: dict, path: str) -> bool:
    if mapping.is_table:
        return path in record
    try:
        mapping.lookup(record, path)
    except Missing:
        return False
    return True
