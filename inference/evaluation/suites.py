"""Evaluation suites as data: built from the bank, frozen once scored.

Built in:
- `bank-heldout`: the objective questions of the bank's test split (never trained on);
- `bank-trained`: the questions a version was trained on (memorising, not generalising), one
  revision per training set;
- `grading-heldout`: the teacher-graded answers to test-split questions (the grader's exam).
Any subject or imported source of the bank can become a suite too (`manage.py suites --create`).

A suite's items are question versions (and answers) with their key, 解析 and grade copied in: an edit of
the bank makes a new question version and, at the next scoring, a new revision of the suite, never a
change to a revision a version was scored on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q

from core.exceptions import ApplicationError
from inference.models import EvalItem, EvalSuite, SuiteKind
from quizbank import prompts
from quizbank.models import OBJECTIVE_TYPES, Answer, Question, answer_worth
from quizbank.prompt_inputs import question_record
from quizbank.selectors import question_list, teacher_graded_answers
from quizbank.selectors.questions import question_queryset
from tuning.models import ModelVersion, TuningRun

HELDOUT = "bank-heldout"
TRAINED = "bank-trained"
GRADING = "grading-heldout"
BUILT_IN = (HELDOUT, TRAINED, GRADING)


def answer_items(questions: Iterable[Question]) -> list[dict]:
    """The objective questions among `questions` as items: key and 解析 as the training record has them."""
    items = []
    for question in questions:
        if question.qtype not in OBJECTIVE_TYPES:
            continue
        record = question_record(question)
        if record is None:
            continue
        expected = prompts.parse_output(record["output"])
        if not expected.answer:
            continue
        items.append(
            {
                "kind": EvalItem.Kind.ANSWER,
                "question": question,
                "answer": None,
                "subject": question.subject.path if question.subject_id else "",
                "qtype": question.qtype,
                "key": expected.answer[:64],
                "reference": question.explanation or "",
            }
        )
    return items


def grading_items(answers: Iterable[Answer]) -> list[dict]:
    return [
        {
            "kind": EvalItem.Kind.GRADE,
            "question": answer.question,
            "answer": answer,
            "subject": answer.question.subject.path if answer.question.subject_id else "",
            "qtype": answer.question.qtype,
            "teacher_score": answer.score,
            "worth": answer_worth(answer),
        }
        for answer in answers
    ]


def _items_hash(items: list[dict]) -> str:
    keys = [(item["kind"], item["question"].pk, item["answer"].pk if item["answer"] else None) for item in items]
    return hashlib.sha256(json.dumps(keys).encode()).hexdigest()


@transaction.atomic
def suite_revision(*, name: str, kind: str, items: list[dict], selector: str = "", description: str = "") -> EvalSuite:
    """The revision of suite `name` holding exactly `items`: the latest when it holds them already; the
    latest, its items replaced, while no version was scored on it; else a new revision."""
    digest = _items_hash(items)
    latest = EvalSuite.objects.select_for_update().filter(name=name).order_by("-revision").first()
    if latest is not None and latest.items_hash == digest:
        return latest
    if latest is not None and latest.frozen_at is None and not latest.runs.exists():
        suite = latest
        suite.items.all().delete()
        suite.items_hash, suite.selector, suite.kind = digest, selector, kind
        suite.description = description or suite.description
        suite.save(update_fields=["items_hash", "selector", "kind", "description"])
    else:
        suite = EvalSuite.objects.create(
            name=name,
            revision=latest.revision + 1 if latest else 1,
            kind=kind,
            selector=selector,
            items_hash=digest,
            is_active=latest.is_active if latest else True,
            description=description or (latest.description if latest else ""),
        )
    EvalItem.objects.bulk_create(
        EvalItem(
            suite=suite,
            position=position,
            kind=item["kind"],
            question=item["question"],
            answer=item["answer"],
            subject=item["subject"][:300],
            qtype=item["qtype"],
            key=item.get("key", ""),
            reference=item.get("reference", ""),
            teacher_score=item.get("teacher_score"),
            worth=item.get("worth"),
        )
        for position, item in enumerate(items)
    )
    return suite


def heldout_suite() -> EvalSuite | None:
    items = answer_items(question_list(split="test"))
    if not items:
        return None
    return suite_revision(name=HELDOUT, kind=SuiteKind.HELDOUT, items=items, description="the bank's test split")


def grading_suite() -> EvalSuite | None:
    items = grading_items(teacher_graded_answers(split="test"))
    if not items:
        return None
    return suite_revision(
        name=GRADING, kind=SuiteKind.GRADING, items=items, description="teacher-graded answers of the test split"
    )


def trained_suite(version: ModelVersion) -> EvalSuite | None:
    """The questions `version`'s run trained on; None for a version no run made (a base model)."""
    run = TuningRun.objects.filter(output_version=version).first()
    if run is None or not run.question_ids:
        return None
    by_id = Question.objects.select_related("subject", "root").in_bulk(run.question_ids)
    items = answer_items(by_id[pk] for pk in run.question_ids if pk in by_id)
    if not items:
        return None
    return suite_revision(
        name=TRAINED,
        kind=SuiteKind.TRAINED,
        items=items,
        selector=f"run-{run.pk}",
        description=f"the questions {version.name} was trained on (memorising, not generalising)",
    )


def bank_suite(*, name: str, subject: str = "", source: str = "") -> EvalSuite:
    """A suite of the bank's objective questions of a subject or an imported source (a benchmark file
    such as C-Eval's val split becomes a suite this way); refreshed as a new revision when scored again."""
    if name in BUILT_IN:
        raise ApplicationError(f"{name} is a built-in suite", extra={"field": "name"})
    if bool(subject) == bool(source):
        raise ApplicationError("give a subject or a source", extra={"field": "subject"})
    queryset = question_queryset(subject=subject)
    if source:
        queryset = queryset.filter(
            Q(source_dataset=source) | Q(source_file=source) | Q(source_file__endswith=f"/{source}")
        )
    items = answer_items(queryset)
    if not items:
        what = f"subject {subject!r}" if subject else f"source {source!r}"
        raise ApplicationError(f"no objective questions in {what}", extra={"field": "subject" if subject else "source"})
    kind, selector = (SuiteKind.SUBJECT, subject) if subject else (SuiteKind.SOURCE, source)
    return suite_revision(name=name, kind=kind, items=items, selector=selector, description=f"{kind}: {selector}")


def current_suites(version: ModelVersion) -> list[EvalSuite]:
    """The suites a version is scored on now: the built-in ones (rebuilt from the bank as it is), its own
    training set, and every other active suite (refreshed from its subject or source)."""
    suites = [heldout_suite(), grading_suite(), trained_suite(version)]
    for name in (
        EvalSuite.objects.exclude(is_active=False).exclude(name__in=BUILT_IN).values_list("name", flat=True).distinct()
    ):
        latest = EvalSuite.objects.filter(name=name).order_by("-revision").first()
        if latest is None or not latest.is_active:
            continue
        try:
            suite = bank_suite(
                name=name,
                subject=latest.selector if latest.kind == SuiteKind.SUBJECT else "",
                source=latest.selector if latest.kind == SuiteKind.SOURCE else "",
            )
        except ApplicationError:
            suite = latest  # its questions are gone from the bank: scored on the revision that holds them
        suites.append(suite)
    return [suite for suite in suites if suite is not None]


def suite_named(name: str, *, version: ModelVersion) -> EvalSuite:
    """The current revision of suite `name` (bank-trained: the one of `version`'s training set)."""
    builders = {HELDOUT: heldout_suite, GRADING: grading_suite}
    if name in builders:
        suite = builders[name]()
    elif name == TRAINED:
        suite = trained_suite(version)
    else:
        latest = EvalSuite.objects.filter(name=name).order_by("-revision").first()
        if latest is None:
            raise ApplicationError(
                f"no evaluation suite named {name!r} (built in: {', '.join(BUILT_IN)})", extra={"field": "suite"}
            )
        suite = latest
    if suite is None:
        raise ApplicationError(f"suite {name} has no items for {version.name}", extra={"field": "suite"})
    return suite
