"""The promotion gate: the candidate against the active version, item by item on the suites both
were scored on. Registered with tuning (tuning/gates.py) when the app starts.

Accuracy: McNemar's exact test on the items one version got right and the other wrong. Explanation
fidelity and grading QWK: a paired bootstrap over the items. A significant fall (p < PROMOTION_ALPHA)
on any suite is a refusal that names the suite, the measure and the p-value."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from inference.evaluation.scoring import GRADE_STEPS, grade_steps
from inference.evaluation.stats import mcnemar_exact, paired_bootstrap
from inference.models import EvalItem, EvalResult, EvalRun
from tuning.gates import Refusal
from tuning.metrics import quadratic_weighted_kappa
from tuning.models import ModelVersion


def paired_results(
    candidate: ModelVersion, active: ModelVersion
) -> list[tuple[EvalRun, list[tuple[EvalResult, EvalResult]]]]:
    """For each suite revision both versions were scored on: (the candidate's run, [(candidate's
    result, active's result)] per item)."""
    done = EvalRun.Status.DONE
    theirs = {run.suite_id: run for run in EvalRun.objects.filter(version=active, status=done)}
    pairs = []
    for run in EvalRun.objects.filter(version=candidate, status=done, suite_id__in=theirs).select_related("suite"):
        other = {result.item_id: result for result in theirs[run.suite_id].results.all()}
        mine = run.results.select_related("item").order_by("item__position")
        pairs.append((run, [(result, other[result.item_id]) for result in mine if result.item_id in other]))
    return pairs


def compare(candidate: ModelVersion, active: ModelVersion) -> list[Refusal]:
    alpha = settings.PROMOTION_ALPHA
    refusals = []
    for run, pairs in paired_results(candidate, active):
        name = f"{run.suite.name}@{run.suite.revision}"
        for found in (_accuracy(name, pairs), _fidelity(name, pairs), _qwk(name, pairs)):
            if found is not None and found.candidate < found.active and found.p_value < alpha:
                refusals.append(found)
    return refusals


def _accuracy(suite: str, pairs: Sequence[tuple[EvalResult, EvalResult]]) -> Refusal | None:
    answers = [(mine, theirs) for mine, theirs in pairs if mine.item.kind == EvalItem.Kind.ANSWER]
    if not answers:
        return None
    only_active = sum(bool(theirs.correct) and not mine.correct for mine, theirs in answers)
    only_candidate = sum(bool(mine.correct) and not theirs.correct for mine, theirs in answers)
    n = len(answers)
    return Refusal(
        suite=suite,
        measure="answer_accuracy",
        candidate=round(sum(bool(mine.correct) for mine, _ in answers) / n, 4),
        active=round(sum(bool(theirs.correct) for _, theirs in answers) / n, 4),
        p_value=round(mcnemar_exact(only_active, only_candidate), 6),
        n=n,
        test="mcnemar-exact",
    )


def _fidelity(suite: str, pairs: Sequence[tuple[EvalResult, EvalResult]]) -> Refusal | None:
    scored = [(mine, theirs) for mine, theirs in pairs if mine.fidelity is not None and theirs.fidelity is not None]
    if not scored:
        return None
    active = [theirs.fidelity or 0.0 for _, theirs in scored]
    candidate = [mine.fidelity or 0.0 for mine, _ in scored]
    n = len(scored)
    return Refusal(
        suite=suite,
        measure="explanation_fidelity",
        candidate=round(sum(candidate) / n, 4),
        active=round(sum(active) / n, 4),
        p_value=round(paired_bootstrap(active, candidate), 6),
        n=n,
        test="paired-bootstrap",
    )


def _qwk(suite: str, pairs: Sequence[tuple[EvalResult, EvalResult]]) -> Refusal | None:
    graded = [(mine, theirs) for mine, theirs in pairs if mine.item.kind == EvalItem.Kind.GRADE]
    if len(graded) < 2:
        return None

    def steps(result: EvalResult) -> int:
        return grade_steps(result.model_score or 0, result.item.worth or 0)

    teacher = [grade_steps(mine.item.teacher_score or 0, mine.item.worth or 0) for mine, _ in graded]
    active = [steps(theirs) for _, theirs in graded]
    candidate = [steps(mine) for mine, _ in graded]

    def kappa(scores: list[int], indices: Sequence[int]) -> float:
        return quadratic_weighted_kappa(
            [teacher[i] for i in indices], [scores[i] for i in indices], min_score=0, max_score=GRADE_STEPS
        )

    everything = range(len(graded))
    return Refusal(
        suite=suite,
        measure="grading_qwk",
        candidate=round(kappa(candidate, everything), 4),
        active=round(kappa(active, everything), 4),
        p_value=round(
            paired_bootstrap(
                [0.0] * len(graded),
                [0.0] * len(graded),
                statistic=lambda indices: (kappa(active, indices), kappa(candidate, indices)),
            ),
            6,
        ),
        n=len(graded),
        test="paired-bootstrap",
    )
