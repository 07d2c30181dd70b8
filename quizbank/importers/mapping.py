"""A mapping file that says where each question field is in a layout no importer knows.

The mapping is JSON (see README, "Importing a layout no importer knows"):

    {"format": "jsonl", "records": "data.items",
     "fields": {"stem": "question",
                "options": {"path": "options", "strip_letter": true},
                "answer": {"path": "label", "as": "letters"},
                "type": {"const": "single_choice"}, ...}}

`format` is jsonl, json, csv or xlsx; `records` (json only) is the path to the list of records.
A field is a path, `{"path": ..., <transforms>}` or `{"const": value}`. A path is dot-separated keys
with `[0]` (an index, `[-1]` the last) and `[*]` (every element of a list) steps; in csv and xlsx
it is a column name. `path` may be a list of paths, read in turn (the columns of the options).

The whole mapping is checked when it is loaded, before any row of the file is read: a mapping
that is wrong is refused with the mapping file and the field named (`fields.answer`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from quizbank.importers.base import BankImportError, RowError, read_text
from quizbank.importers.table_cells import ALLOWED_TYPE_TEXT, cell_text, parse_difficulty, parse_type

FORMATS = ("jsonl", "json", "csv", "xlsx")
TABLE_FORMATS = ("csv", "xlsx")
# the question fields a mapping can fill, in the order they are documented
FIELDS = (
    "stem",
    "type",
    "options",
    "answer",
    "explanation",
    "subject",
    "difficulty",
    "score",
    "partial_score",
    "tags",
    "knowledge_points",
    "source",
    "licence",
)
ANSWER_AS = ("letters", "index", "text")
# transforms each field accepts besides `path` (and `map`, which every field accepts)
FIELD_TRANSFORMS = {
    "options": ("strip_letter", "key", "text", "split"),
    "answer": ("as", "split"),
    "tags": ("split",),
    "knowledge_points": ("split",),
}
TOP_KEYS = ("format", "records", "fields")

_INDEX = re.compile(r"\[(\*|-?\d+)\]")
_NAME = re.compile(r"[^.\[\]]+")

# a path step: ("key", name), ("index", n) or ("each", None)
Step = tuple[str, object]


class Missing(Exception):
    """A path that leads nowhere in one record; the message says where it stops."""


def parse_path(text: str) -> tuple[Step, ...]:
    """`answer_option_list[*][0].content` -> its steps; ValueError saying what is wrong."""
    steps: list[Step] = []
    pos, after_dot = 0, False
    while pos < len(text):
        if match := _INDEX.match(text, pos):
            if after_dot:
                raise ValueError(f"a name must follow '.' at character {pos + 1}")
            steps.append(("each", None) if match.group(1) == "*" else ("index", int(match.group(1))))
        elif (match := _NAME.match(text, pos)) and (after_dot or not steps):
            steps.append(("key", match.group(0)))
        elif text[pos] == "." and steps and not after_dot:
            after_dot, pos = True, pos + 1
            continue
        else:
            raise ValueError(
                f"unexpected {text[pos]!r} at character {pos + 1}; write keys with dots and indexes as [0] or [*], "
                "e.g. other.solution or answer_option_list[*][0]"
            )
        after_dot, pos = False, match.end()
    if not steps or after_dot:
        raise ValueError("is empty" if not steps else "ends with '.'")
    return tuple(steps)


def _shown(steps: tuple[Step, ...]) -> str:
    text = ""
    for kind, arg in steps:
        if kind == "key":
            text += f".{arg}" if text else str(arg)
        else:
            text += "[*]" if kind == "each" else f"[{arg}]"
    return text


def _kind(value) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "text", bool: "true/false"}.get(type(value), "a number")


def resolve(value, steps: tuple[Step, ...], done: tuple[Step, ...] = (), *, root: str = "the record"):
    """What the steps lead to in `value`; `[*]` gives a list of what the rest leads to in each element.
    Missing when a step finds nothing, saying which (`root` names `value` itself)."""
    for index, step in enumerate(steps):
        kind, arg = step
        where = f"'{_shown(done)}'" if done else root
        if kind == "key":
            if not isinstance(value, dict):
                raise Missing(f"{where} is {_kind(value)}, not an object with '{arg}'")
            if arg not in value:
                keys = ", ".join(list(value)[:10]) + (", ..." if len(value) > 10 else "")
                raise Missing(f"{where} has no '{arg}' (it has: {keys or 'nothing'})")
            value = value[arg]
        else:
            if not isinstance(value, list):
                raise Missing(f"{where} is {_kind(value)}, not a list")
            if kind == "each":
                rest = steps[index + 1 :]
                return [resolve(item, rest, (*done, ("index", n)), root=root) for n, item in enumerate(value)]
            if not -len(value) <= arg < len(value):  # type: ignore[operator]
                raise Missing(f"{where} has {len(value)} element(s), so no [{arg}]")
            value = value[arg]  # type: ignore[index]
        done = (*done, step)
    return value


@dataclass(frozen=True)
class FieldSpec:
    """One field of the mapping: where its value is (paths) or the constant, and the transforms."""

    name: str
    paths: tuple[str, ...] = ()
    const: object = None
    value_map: dict | None = None
    strip_letter: bool = False
    key: str = ""
    text: str = ""
    answer_as: str = ""
    split: str = ""

    @property
    def is_const(self) -> bool:
        return not self.paths

    def source(self) -> str:
        """Where the field's value comes from, as a row error tells it."""
        if self.is_const:
            return "the mapping's constant"
        return " + ".join(repr(path) for path in self.paths)


@dataclass(frozen=True)
class Mapping:
    file_name: str
    format: str
    fields: dict[str, FieldSpec]
    records: str = ""
    steps: dict[str, tuple[Step, ...]] = field(default_factory=dict)  # json path text -> steps

    @property
    def is_table(self) -> bool:
        return self.format in TABLE_FORMATS

    def lookup(self, item, path: str):
        """The value at one path of one record (a column of a table row); Missing when it is not there."""
        if self.is_table:
            value = item.get(path)
            return value if value != "" else None
        return resolve(item, self.steps[path])


class _Refused(Exception):
    def __init__(self, where: str, message: str):
        self.where = where
        self.message = message


def mapping_load(path: Path, *, file_name: str | None = None) -> Mapping:
    """The mapping in a JSON file, checked whole; BankImportError naming the file and the field if wrong."""
    name = file_name or path.name
    try:
        data = json.loads(read_text(path, file_name=name))
    except json.JSONDecodeError as exc:
        message = f"the mapping is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise BankImportError([RowError(name, None, "(mapping)", message)]) from exc
    except OSError as exc:
        raise BankImportError([RowError(name, None, "(mapping)", f"cannot be read: {exc.strerror}")]) from exc
    return mapping_parse(data, file_name=name)


def mapping_parse(data, *, file_name: str) -> Mapping:
    """A mapping given as JSON data (a saved profile, a form's text), checked whole like a file's;
    BankImportError with one RowError whose field is where it is wrong (`fields.answer`)."""
    try:
        return mapping_from_dict(data, file_name=file_name)
    except _Refused as refused:
        raise BankImportError([RowError(file_name, None, refused.where, refused.message)]) from None


def mapping_from_dict(data, *, file_name: str) -> Mapping:
    if not isinstance(data, dict):
        raise _Refused(
            "(mapping)", f'must be a JSON object like {{"format": "jsonl", "fields": {{...}}}}, not {_kind(data)}'
        )
    unknown = [key for key in data if key not in TOP_KEYS]
    if unknown:
        raise _Refused(unknown[0], f"unknown key {unknown[0]!r}; a mapping has {', '.join(TOP_KEYS)}")
    fmt = data.get("format")
    if fmt not in FORMATS:
        raise _Refused("format", f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    records = data.get("records", "")
    if records and fmt != "json":
        raise _Refused("records", f"'records' is for json files only (each {fmt} line or row is a record)")
    if not isinstance(records, str):
        raise _Refused("records", f"must be a path like 'data.items', not {_kind(records)}")
    fields = data.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise _Refused("fields", 'must be an object naming where each field is, e.g. {"stem": "question", ...}')
    specs = {}
    for name, raw in fields.items():
        if name not in FIELDS:
            raise _Refused(f"fields.{name}", f"unknown field {name!r}; the fields are {', '.join(FIELDS)}")
        specs[name] = _field_spec(name, raw, fmt)
    if "stem" not in specs:
        raise _Refused("fields.stem", "the mapping must say where the question text is (fields.stem)")
    steps = {}
    if fmt not in TABLE_FORMATS:
        if records:
            steps[records] = _steps(records, "records")
        for spec in specs.values():
            for text in (*spec.paths, spec.key, spec.text):
                if text:
                    steps[text] = _steps(text, f"fields.{spec.name}")
    return Mapping(file_name=file_name, format=fmt, fields=specs, records=records, steps=steps)


def _steps(text: str, where: str) -> tuple[Step, ...]:
    try:
        return parse_path(text)
    except ValueError as exc:
        raise _Refused(where, f"the path {text!r} {exc}") from None


def _field_spec(name: str, raw, fmt: str) -> FieldSpec:
    where = f"fields.{name}"
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict):
        raise _Refused(
            where, f'must be a path ("question"), {{"path": ..., ...}} or {{"const": ...}}, not {_kind(raw)}'
        )
    if "const" in raw:
        return _const_spec(name, raw)
    allowed = ("path", "map", *FIELD_TRANSFORMS.get(name, ()))
    unknown = [key for key in raw if key not in allowed]
    if unknown:
        raise _Refused(f"{where}.{unknown[0]}", f"unknown transform {unknown[0]!r}; {name} takes {', '.join(allowed)}")
    paths = raw.get("path")
    paths = [paths] if isinstance(paths, str) else paths
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p.strip() for p in paths):
        raise _Refused(f"{where}.path", 'must be a path like "question" (or a list of them, for options)')
    if len(paths) > 1 and name != "options":
        raise _Refused(f"{where}.path", "only options may be read from several paths")
    spec = FieldSpec(
        name=name,
        paths=tuple(paths),
        value_map=_value_map(raw.get("map"), where),
        strip_letter=_flag(raw.get("strip_letter", False), f"{where}.strip_letter"),
        key=_inner_path(raw.get("key", ""), f"{where}.key"),
        text=_inner_path(raw.get("text", ""), f"{where}.text"),
        answer_as=raw.get("as", ""),
        split=raw.get("split", ""),
    )
    if spec.answer_as and spec.answer_as not in ANSWER_AS:
        raise _Refused(f"{where}.as", f"unknown {spec.answer_as!r}; use one of {', '.join(ANSWER_AS)}")
    if not isinstance(spec.split, str) or ("split" in raw and not spec.split):
        raise _Refused(f"{where}.split", 'must be the text between the parts, e.g. "|"')
    if (spec.key or spec.text) and fmt in TABLE_FORMATS:
        raise _Refused(f"{where}.key", f"key and text read inside objects; a {fmt} cell holds only text")
    if spec.key and not spec.text:
        raise _Refused(f"{where}.text", "with key, say where each option's text is too (text)")
    return spec


def _const_spec(name: str, raw: dict) -> FieldSpec:
    where = f"fields.{name}"
    if len(raw) > 1:
        extra = next(key for key in raw if key != "const")
        raise _Refused(f"{where}.{extra}", "a constant takes nothing else (no path, no transforms)")
    value = raw["const"]
    scalar = (str, int, float, bool)
    if isinstance(value, list) and name in ("options", "tags", "knowledge_points"):
        if not all(isinstance(item, scalar) for item in value):
            raise _Refused(where, "the constant list must hold text only")
    elif not isinstance(value, scalar):
        raise _Refused(where, f"the constant must be text or a number, not {_kind(value)}")
    elif name == "options":
        raise _Refused(where, "constant options must be a list of texts")
    if name == "type" and parse_type(cell_text(value)) is None:
        raise _Refused(
            where, f"{value!r} is not a question type; use single_choice, multiple_choice, … or {ALLOWED_TYPE_TEXT}"
        )
    if name == "difficulty" and parse_difficulty(cell_text(value)) is None:
        raise _Refused(where, f"{value!r} is not a difficulty: use 1–5 or 易/中/难 (easy/medium/hard)")
    if name == "subject" and not all(part.strip() for part in cell_text(value).split("/")):
        raise _Refused(where, f"{value!r} is not a subject path like '数学/函数'")
    return FieldSpec(name=name, const=value)


def _value_map(raw, where: str) -> dict | None:
    if raw is None:
        return None
    scalar = (str, int, float, bool)
    if not isinstance(raw, dict) or not all(isinstance(value, scalar) for value in raw.values()):
        raise _Refused(
            f"{where}.map", 'must be an object from a value to what it means, e.g. {"单选": "single_choice"}'
        )
    if where == "fields.type":
        wrong = [value for value in raw.values() if parse_type(cell_text(value)) is None]
        if wrong:
            raise _Refused(
                f"{where}.map", f"{wrong[0]!r} is not a question type; use single_choice, multiple_choice, …"
            )
    return raw


def _flag(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Refused(where, f"must be true or false, not {value!r}")
    return value


def _inner_path(value, where: str) -> str:
    if not isinstance(value, str):
        raise _Refused(where, f'must be a path inside each item, like "content", not {_kind(value)}')
    return value
