"""Reads of the evaluation suites: the versions side by side, and what changed between two."""

from __future__ import annotations

from inference.evaluation.scoring import SUMMARY_KEYS
from inference.models import EvalResult, EvalRun, EvalSuite
from tuning.models import ModelVersion


def versions_table() -> list[dict]:
    """Every version with its headline scores per suite (the newest revision it was scored on):
    [{"name", "method", "status", "active", "suites": {SUITE: {"n", "answer_accuracy", ...}}}]."""
    runs: dict[int, dict[str, EvalRun]] = {}
    done = EvalRun.objects.filter(status=EvalRun.Status.DONE).select_related("suite")
    for run in done.order_by("suite__name", "-suite__revision"):
        runs.setdefault(run.version_id, {}).setdefault(run.suite.name, run)
    table = []
    for version in ModelVersion.objects.order_by("created_at", "id"):
        suites = {
            name: {"revision": run.suite.revision} | {key: run.metrics.get(key) for key in SUMMARY_KEYS}
            for name, run in sorted(runs.get(version.pk, {}).items())
        }
        table.append(
            {
                "name": version.name,
                "method": version.method,
                "status": version.state,
                "active": version.is_active,
                "suites": suites,
            }
        )
    return table


def shared_suites(first: ModelVersion, second: ModelVersion) -> list[EvalSuite]:
    """The suite revisions both versions were scored on, newest first per name."""
    done = EvalRun.Status.DONE
    theirs = set(EvalRun.objects.filter(version=second, status=done).values_list("suite_id", flat=True))
    ids = EvalRun.objects.filter(version=first, status=done, suite_id__in=theirs).values_list("suite_id", flat=True)
    return list(EvalSuite.objects.filter(pk__in=list(ids)).order_by("name", "-revision"))


def suite_comparison(first: ModelVersion, second: ModelVersion, suite: EvalSuite) -> dict:
    """Two versions on one suite revision: their metrics (per subject too), the items that went
    right -> wrong and wrong -> right from `first` to `second`, and explanations side by side."""
    runs = {run.version_id: run for run in EvalRun.objects.filter(suite=suite, version__in=[first, second])}
    before, after = runs.get(first.pk), runs.get(second.pk)
    if before is None or after is None:
        return {"suite": suite, "before": before, "after": after, "worse": [], "better": [], "samples": []}
    old = {result.item_id: result for result in before.results.select_related("item", "item__question")}
    pairs = [
        (old[result.item_id], result)
        for result in after.results.select_related("item", "item__question").order_by("item__position")
        if result.item_id in old
    ]
    answers = [(a, b) for a, b in pairs if a.correct is not None and b.correct is not None]
    subjects = sorted(set(before.metrics.get("by_subject", {})) | set(after.metrics.get("by_subject", {})))
    return {
        "suite": suite,
        "before": before,
        "after": after,
        "by_subject": [
            {
                "subject": subject,
                "before": before.metrics.get("by_subject", {}).get(subject),
                "after": after.metrics.get("by_subject", {}).get(subject),
            }
            for subject in subjects
        ],
        "worse": [pair for pair in answers if pair[0].correct and not pair[1].correct],
        "better": [pair for pair in answers if not pair[0].correct and pair[1].correct],
        "samples": [pair for pair in pairs if pair[0].raw_output or pair[1].raw_output][:5],
    }


def comparison_rows(first: ModelVersion, second: ModelVersion) -> list[list]:
    """The comparison as CSV rows: one per item of every shared suite, both outputs beside each other."""
    rows: list[list] = [
        [
            "suite",
            "revision",
            "position",
            "question_id",
            "subject",
            "type",
            "key",
            f"{first.name}_answer",
            f"{first.name}_correct",
            f"{second.name}_answer",
            f"{second.name}_correct",
            "change",
            f"{first.name}_output",
            f"{second.name}_output",
        ]
    ]
    for suite in shared_suites(first, second):
        compared = suite_comparison(first, second, suite)
        if compared["before"] is None or compared["after"] is None:
            continue
        old = {result.item_id: result for result in EvalResult.objects.filter(run=compared["before"])}
        for result in compared["after"].results.select_related("item").order_by("item__position"):
            mine = old.get(result.item_id)
            if mine is None:
                continue
            item = result.item
            change = (
                "right->wrong"
                if mine.correct and result.correct is False
                else "wrong->right"
                if mine.correct is False and result.correct
                else ""
            )
            rows.append(
                [
                    suite.name,
                    suite.revision,
                    item.position,
                    item.question_id,
                    item.subject,
                    item.qtype,
                    item.key,
                    mine.parsed_answer,
                    mine.correct,
                    result.parsed_answer,
                    result.correct,
                    change,
                    mine.raw_output,
                    result.raw_output,
                ]
            )
    return rows
