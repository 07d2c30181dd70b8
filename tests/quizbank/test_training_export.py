"""Training exports: shapes, splits, evaluation-only sources left out."""

import json
from collections import Counter

import pytest
from django.core.management import call_command

from quizbank.models import Question
from quizbank.selectors import question_split
from quizbank.services import bank_import_file
from tests.conftest import DEMO_BANK

pytestmark = pytest.mark.django_db


def nc_bank(tmp_path):
    path = tmp_path / "nc.json"
    path.write_text(
        json.dumps(
            {
                "format": "quizsite-bank",
                "version": 1,
                "subject": "评测",
                "licence": "CC BY-NC-SA 4.0",
                "dataset": "C-Eval",
                "questions": [{"stem": "只用于评测的题", "options": ["甲", "乙"], "answer": "A"}],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return path


def test_sharegpt_export_is_conversations_jsonl_with_its_dataset_info(tmp_path):
    bank_import_file(path=DEMO_BANK)
    out = tmp_path / "data.jsonl"
    call_command("export_dataset", "--format", "sharegpt", "--out", str(out))
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 100 and set(lines[0]) == {"conversations"}  # no system prompt: no "system" field
    human, gpt = lines[0]["conversations"]
    assert (human["from"], gpt["from"]) == ("human", "gpt")
    assert gpt["value"].startswith("答案：") and human["value"]
    info = json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
    assert info == {
        "data": {
            "file_name": "data.jsonl",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
        }
    }


def test_a_system_prompt_goes_in_the_sharegpt_system_field(monkeypatch):
    from quizbank import prompts
    from quizbank.exporters.training import sharegpt_record

    monkeypatch.setattr(
        prompts,
        "prompt_messages",
        lambda record: [{"role": "system", "content": "你是老师"}, {"role": "user", "content": "Q"}],
    )
    assert sharegpt_record({"instruction": "Q", "input": "", "output": "A"}) == {
        "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}],
        "system": "你是老师",
    }


def test_openai_export_is_messages_jsonl(tmp_path):
    bank_import_file(path=DEMO_BANK)
    out = tmp_path / "data.jsonl"
    call_command("export_dataset", "--format", "openai", "--out", str(out))
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 100
    assert [m["role"] for m in lines[0]["messages"]] == ["user", "assistant"]
    assert lines[0]["messages"][1]["content"].startswith("答案：")
    assert not (tmp_path / "dataset_info.json").exists()


def test_llamafactory_folder_has_dataset_info_and_alpaca_file(tmp_path):
    bank_import_file(path=DEMO_BANK)
    call_command("export_dataset", "--format", "llamafactory", "--out", str(tmp_path / "lf"))
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    entry = info["quizsite"]
    assert entry["formatting"] == "alpaca"
    assert entry["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}
    data = json.loads((tmp_path / "lf" / entry["file_name"]).read_text(encoding="utf-8"))
    assert len(data) == 100 and set(data[0]) == {"instruction", "input", "output"}


def test_non_commercial_sources_stay_out_of_training_data_unless_allowed(tmp_path):
    bank_import_file(path=DEMO_BANK)
    bank_import_file(path=nc_bank(tmp_path))
    assert Question.objects.get(stem="只用于评测的题").is_non_commercial
    call_command("export_dataset", "--out", str(tmp_path / "a.json"))
    call_command("export_dataset", "--out", str(tmp_path / "b.json"), "--allow-non-commercial")
    assert len(json.loads((tmp_path / "a.json").read_text())) == 100
    assert len(json.loads((tmp_path / "b.json").read_text())) == 101


def test_splits_are_seeded_proportional_and_stable_when_the_bank_grows(tmp_path):
    bank_import_file(path=DEMO_BANK)
    before = {q.content_hash: question_split(q) for q in Question.objects.all()}
    counts = Counter(before.values())
    assert counts["train"] > counts["val"] > 0 and counts["test"] > 0
    assert 65 <= counts["train"] <= 92
    bank_import_file(path=nc_bank(tmp_path))
    after = {q.content_hash: question_split(q) for q in Question.objects.all()}
    assert all(after[digest] == split for digest, split in before.items())
    train = tmp_path / "train.json"
    test = tmp_path / "test.json"
    call_command("export_dataset", "--out", str(train), "--split", "train")
    call_command("export_dataset", "--out", str(test), "--split", "test")
    train_inputs = {r["input"] for r in json.loads(train.read_text())}
    test_inputs = {r["input"] for r in json.loads(test.read_text())}
    assert len(train_inputs) == counts["train"] and not train_inputs & test_inputs
