"""Evaluation suites: frozen lists of items, every version scored on them through a real engine, and a
promotion gate that compares the candidate with the active version item by item."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from django.core.management import CommandError, call_command

from inference.evaluation import version_evaluate, version_score
from inference.evaluation.stats import chrf, mcnemar_exact, paired_bootstrap, wilson_interval
from inference.evaluation.suites import HELDOUT, bank_suite, heldout_suite
from inference.models import EvalItem, EvalResult, EvalRun, EvalSuite
from quizbank.models import Question, QuestionType
from quizbank.selectors.questions import question_split
from quizbank.services import question_create
from tuning.models import ModelVersion, PromotionAction, PromotionLog, VersionState
from tuning.services import version_promote, version_register

pytestmark = pytest.mark.django_db


# --- the statistics ----------------------------------------------------------------------------


def test_mcnemar_exact_is_the_binomial_test_on_the_discordant_pairs():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(6, 1) == pytest.approx(2 * (1 + 7) / 128)


def test_the_wilson_interval_stays_inside_zero_and_one_and_narrows_with_n():
    assert wilson_interval(0, 8)[0] == 0.0 and wilson_interval(8, 8)[1] == 1.0
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(500, 1000)[1] - wilson_interval(500, 1000)[0] < high - low


def test_chrf_and_the_paired_bootstrap():
    assert chrf("函数的单调性", "函数的单调性") == 1.0 and chrf("abc", "xyz") == 0.0
    assert 0 < chrf("函数单调递增", "函数的单调性") < 1
    worse = paired_bootstrap([0.9] * 30, [0.1] * 30)
    same = paired_bootstrap([0.5, 0.6] * 15, [0.6, 0.5] * 15)
    assert worse < 0.01 and same == 1.0


# --- suites as data ----------------------------------------------------------------------------


def _new_test_question(number: int = 0) -> Question:
    while True:
        question = question_create(
            data={
                "subject": "数学/函数",
                "qtype": QuestionType.SINGLE_CHOICE,
                "stem": f"新的留出题 {number}",
                "options": [{"key": "A", "text": "对"}, {"key": "B", "text": "错"}],
                "answer": "A",
                "explanation": "因为对。",
            }
        )
        if question_split(question) == "test":
            return question
        number += 1000


def test_a_suite_is_frozen_once_scored_and_new_questions_make_a_new_revision(demo_bank, base_version):
    first = heldout_suite()
    assert first.name == HELDOUT and first.revision == 1 and first.items.count() > 0
    assert all(item.kind == EvalItem.Kind.ANSWER and item.key for item in first.items.all())
    assert heldout_suite().pk == first.pk  # same source, same revision
    version_score(version=base_version)  # scored: frozen
    first.refresh_from_db()
    assert first.frozen_at is not None
    keys = list(first.items.values_list("question_id", flat=True))
    added = _new_test_question()
    second = heldout_suite()
    assert second.revision == 2 and added.pk in second.items.values_list("question_id", flat=True)
    assert list(first.items.values_list("question_id", flat=True)) == keys  # the scored revision is unchanged


def test_scoring_stores_each_item_with_its_prompt_output_verdict_and_who_answered(demo_bank, base_version):
    scores = version_score(version=base_version)
    run = EvalRun.objects.get(version=base_version, suite__name=HELDOUT)
    assert run.status == EvalRun.Status.DONE and run.engine == "in-process" and run.answered_by == "base"
    results = list(run.results.select_related("item"))
    assert len(results) == run.metrics["n"] == scores[HELDOUT]["n"] > 0
    for result in results:
        assert result.prompt[-1]["role"] == "user" and result.raw_output.startswith("答案：")
        assert result.parsed_answer in {"A", "B", "C", "D"} and result.answered_by == "base"
        assert result.correct == (result.parsed_answer == result.item.key)
        assert result.tokens and result.latency_ms is not None and result.fidelity is not None
    correct = sum(result.correct for result in results)
    assert run.metrics["answer_accuracy"] == round(correct / len(results), 4)
    low, high = run.metrics["ci95"]
    assert low <= run.metrics["answer_accuracy"] <= high
    assert sum(group["n"] for group in run.metrics["by_subject"].values()) == len(results)
    assert run.metrics["by_type"]["single_choice"]["n"] == len(results)
    base_version.refresh_from_db()
    assert base_version.metrics["suites"][HELDOUT]["n"] == len(results)


def test_versions_json_lists_every_version_with_its_suites(demo_bank, base_version, capsys):
    version_score(version=base_version)
    call_command("versions", "--json")
    table = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [row["name"] for row in table] == ["base"]
    row = table[0]
    assert row["method"] == "bootstrap" and row["status"] == "evaluated" and row["active"] is True
    heldout = row["suites"][HELDOUT]
    assert set(heldout) >= {"n", "answer_accuracy", "explanation_fidelity", "grading_qwk"} and heldout["n"] > 0


def test_an_imported_source_becomes_a_suite(demo_bank):
    source = Question.objects.exclude(source_dataset="").values_list("source_dataset", flat=True).first()
    subject = Question.objects.values_list("subject__path", flat=True).first()
    suite = bank_suite(name="demo-subject", subject=subject)
    assert suite.items.count() == Question.objects.filter(subject__path=subject, qtype="single_choice").count()
    if source:
        assert bank_suite(name="demo-source", source=source).items.count() > 0
    with pytest.raises(Exception, match="built-in"):
        bank_suite(name=HELDOUT, subject=subject)


# --- the gate ----------------------------------------------------------------------------------


def _damaged_copy(model_dir, tmp_path):
    """The trained model with its weights drowned in noise: a candidate that has forgotten the bank."""
    import torch
    from safetensors.torch import load_file, save_file

    target = tmp_path / "damaged"
    shutil.copytree(model_dir, target)
    generator = torch.Generator().manual_seed(0)
    for path in target.glob("*.safetensors"):
        tensors = load_file(path)
        noisy = {
            name: tensor + torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype) * 3.0
            for name, tensor in tensors.items()
        }
        save_file(noisy, path, metadata={"format": "pt"})
    return target


@pytest.mark.slow
def test_a_damaged_candidate_is_refused_naming_the_suite_and_p_value_then_forced_and_rolled_back(
    demo_bank, trained_model, tmp_path, admin_user
):
    good = version_promote(version=version_register(name="ft-good", path=trained_model, method="full"))
    subject = Question.objects.values_list("subject__path", flat=True).first()
    bank_suite(name="demo-bank", subject=subject)
    damaged = version_register(
        name="ft-damaged", path=_damaged_copy(trained_model, tmp_path), method="full", state=VersionState.TRAINED
    )
    version_evaluate(version_id=damaged.pk, promote=True)
    damaged.refresh_from_db()
    assert damaged.state == VersionState.EVALUATED and not damaged.is_active
    assert ModelVersion.objects.get(is_active=True) == good
    # both were scored on the same items of the same revision
    runs = EvalRun.objects.filter(suite__name="demo-bank")
    assert {run.version.name for run in runs} == {"ft-good", "ft-damaged"}
    assert len({run.metrics["n"] for run in runs}) == 1

    refused = PromotionLog.objects.get(action=PromotionAction.REFUSED)
    assert (refused.from_version, refused.to_version) == ("ft-good", "ft-damaged")
    found = {row["suite"]: row for row in refused.details["refusals"]}
    assert "demo-bank@1" in found
    accuracy = next(row for row in refused.details["refusals"] if row["measure"] == "answer_accuracy")
    assert accuracy["candidate"] < accuracy["active"] and accuracy["p_value"] < 0.001
    assert "demo-bank@1" in refused.reason and "p=" in refused.reason

    with pytest.raises(CommandError, match=r"demo-bank@1.*mcnemar-exact, p="):
        call_command("promote", "ft-damaged")
    with pytest.raises(CommandError, match="needs a reason"):
        call_command("promote", "ft-damaged", "--force")
    assert not ModelVersion.objects.get(name="ft-damaged").is_active

    call_command("promote", "ft-damaged", "--force", "--reason", "trying the noisy weights on purpose")
    forced = PromotionLog.objects.get(action=PromotionAction.FORCED)
    assert (forced.from_version, forced.to_version) == ("ft-good", "ft-damaged")
    assert forced.reason == "trying the noisy weights on purpose" and forced.details["overridden"]
    assert ModelVersion.objects.get(is_active=True).name == "ft-damaged"

    version_promote(version=good, force=True, reason="the noisy weights answer nonsense", actor=admin_user)
    rollback = PromotionLog.objects.get(action=PromotionAction.ROLLBACK)
    assert (rollback.from_version, rollback.to_version, rollback.actor) == ("ft-damaged", "ft-good", admin_user)
    assert rollback.reason == "the noisy weights answer nonsense"
    actions = list(PromotionLog.objects.order_by("id").values_list("action", flat=True))
    # ft-good made active, the gate's refusal after evaluation, the command's refusal, forced, rollback
    assert actions == ["promote", "refused", "refused", "forced", "rollback"]


def test_a_candidate_no_worse_passes_the_gate(demo_bank, base_version, tiny_base_model):
    candidate = version_register(name="ft-same", path=tiny_base_model, method="lora", state=VersionState.TRAINED)
    version_evaluate(version_id=candidate.pk, promote=True)
    candidate.refresh_from_db()
    assert candidate.is_active  # the same weights: the same answers, nothing to refuse
    assert PromotionLog.objects.filter(
        action=PromotionAction.PROMOTE, to_version="ft-same", from_version="base"
    ).exists()
    pairs = EvalResult.objects.filter(run__version=candidate).count()
    assert pairs == EvalResult.objects.filter(run__version=base_version, run__suite__in=EvalSuite.objects.all()).count()


def test_evaluating_a_version_with_no_server_serving_it_fails_clearly(demo_bank, base_version, no_model_server):
    with pytest.raises(CommandError, match="no model server answers.*--in-process"):
        call_command("evaluate", "--version", "base", "--suite", HELDOUT, "--json")
    assert not EvalRun.objects.exists()


def test_evaluate_in_process_prints_the_summary_line(demo_bank, base_version, capsys):
    call_command("evaluate", "--version", "base", "--suite", HELDOUT, "--in-process", "--json")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(line) >= {
        "version", "answered_by", "suite", "n", "answer_accuracy", "ci95", "explanation_fidelity", "grading_qwk"
    }  # fmt: skip
    assert line["version"] == line["answered_by"] == "base" and line["suite"] == HELDOUT
    run = EvalRun.objects.get(version=base_version)
    assert line["n"] == run.results.count() and line["answer_accuracy"] == run.metrics["answer_accuracy"]


def test_the_model_report_page_and_csv_compare_two_versions(
    demo_bank, base_version, tiny_base_model, client, alice, carol, dave
):
    candidate = version_register(name="ft-same", path=tiny_base_model, method="lora", state=VersionState.TRAINED)
    version_evaluate(version_id=candidate.pk)
    for outsider in (alice, carol):
        client.force_login(outsider)
        assert client.get("/models/").status_code in (302, 403)
        assert client.get("/models/report.csv").status_code in (302, 403)
    client.force_login(dave)
    page = client.get("/models/", {"a": "base", "b": "ft-same"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "bank-heldout" in body and "ft-same" in body
    exported = client.get("/models/report.csv", {"a": "base", "b": "ft-same"})
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["suite", "revision", "position"]
    assert len(rows) - 1 == EvalResult.objects.filter(run__version=candidate).count()
