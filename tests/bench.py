"""`make bench`: speed measures taken side by side in one run, one line each:

    BENCH <name> ratio=<x> goal=<y> <key>=<value>...

`make bench ONLY=<name>` runs one. Database measures run on a throw-away test database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import django

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))


@contextmanager
def rss_growth():
    """Peak resident memory growth (MB) while the block runs, sampled every 20 ms."""
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * page

    start = rss()
    peak = [start]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.02):
            peak[0] = max(peak[0], rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result: dict = {}
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["mb"] = (max(peak[0], rss()) - start) / 2**20


def generated_questions(n: int):
    for index in range(n):
        a, b = index % 997 + 2, index // 997 + 3
        yield {
            "type": "single_choice",
            "subject": f"数学/练习{index % 20}",
            "stem": f"第 {index} 题：计算 {a} × {b} = ?",
            "options": [str(a * b), str(a * b + 1), str(a * b - 1), str(a + b)],
            "answer": "A",
            "explanation": f"{a} × {b} = {a * b}，故选 A。",
            "score": 2,
            "difficulty": 1 + index % 5,
        }


def write_json_bank(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"format": "quizsite-bank", "version": 1, "questions": [\n')
        for index, item in enumerate(generated_questions(n)):
            handle.write(("," if index else "") + json.dumps(item, ensure_ascii=False) + "\n")
        handle.write("]}\n")


def write_xlsx_bank(path: Path, n: int) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("题库")
    sheet.append(["题目", "类型", "答案", "解析", "选项A", "选项B", "选项C", "选项D", "分值", "难度", "知识点", "学科"])
    for item in generated_questions(n):
        sheet.append(
            [
                item["stem"],
                "单选题",
                "A",
                item["explanation"],
                *item["options"],
                2,
                item["difficulty"],
                "",
                item["subject"],
            ]
        )
    workbook.save(path)


def bulk_create_baseline(n: int) -> float:
    """The floor: the same rows, already built, written with bulk_create in batches of 1000."""
    from django.db import transaction

    from quizbank.models import Question, Subject
    from quizbank.normalize import content_hash

    subjects = {}
    rows = []
    for item in generated_questions(n):
        if item["subject"] not in subjects:
            subjects[item["subject"]] = Subject.objects.get_or_create(path=item["subject"], defaults={"name": "x"})[0]
        options = [{"key": "ABCD"[i], "text": text} for i, text in enumerate(item["options"])]
        rows.append(
            Question(
                subject=subjects[item["subject"]],
                qtype=item["type"],
                stem=item["stem"],
                options=options,
                answer="A",
                explanation=item["explanation"],
                score=2,
                difficulty=item["difficulty"],
                content_hash=content_hash(qtype=item["type"], stem=item["stem"], options=options, answer="A"),
            )
        )
    started = time.monotonic()
    with transaction.atomic():
        Question.objects.bulk_create(rows, batch_size=1000)
    return time.monotonic() - started


def bench_import_100k():
    from quizbank.models import Question
    from quizbank.services import bank_import

    with tempfile.TemporaryDirectory() as folder:
        baseline = bulk_create_baseline(ROWS)
        Question.objects.all().delete()
        for kind, writer, suffix in (("json", write_json_bank, ".json"), ("xlsx", write_xlsx_bank, ".xlsx")):
            path = Path(folder) / f"bank{suffix}"
            writer(path, ROWS)
            with rss_growth() as memory:
                started = time.monotonic()
                report = bank_import(paths=[path])
                seconds = time.monotonic() - started
            if report.errors or report.created != ROWS:
                raise SystemExit(f"{kind} import went wrong: {report.created} created, {report.errors[:3]}")
            Question.objects.all().delete()
            name = "import_100k" if kind == "json" else "import_100k_xlsx"
            yield (
                f"BENCH {name} ratio={seconds / baseline:.2f} goal=3.0 rows={ROWS} import_s={seconds:.1f} "
                f"bulk_create_s={baseline:.1f} rss_growth_mb={memory['mb']:.0f} file_mb={path.stat().st_size / 2**20:.1f}"
            )


def bench_explain_concurrency():
    """Explanations with requests in flight together (continuous batching) vs one at a time."""
    from inference.client import ModelClient
    from inference.services import question_chat_request
    from quizbank.selectors import question_list
    from tests.conftest import VLLMServer
    from tuning.models import ModelVersion

    version = ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        raise SystemExit("no active model version: run `make setup-demo` first")
    server = VLLMServer(Path(version.path), version.name, Path("var") / "bench-vllm.log")
    try:
        server.wait_ready()
        questions = question_list(qtype="single_choice")[:48]
        requests_ = [question_chat_request(question, max_tokens=96) for question in questions]
        client = ModelClient(urls=[server.url], model="quizsite", timeout=120)
        client.chat(**requests_[0])  # warm-up
        started = time.monotonic()
        for request in requests_:
            client.chat(**request)
        sequential = time.monotonic() - started
        started = time.monotonic()
        results = client.chat_many(requests_, concurrency=16)
        concurrent = time.monotonic() - started
    finally:
        server.stop()
    failed = sum(isinstance(result, Exception) for result in results)
    yield (
        f"BENCH explain_concurrency ratio={sequential / concurrent:.2f} goal=2.0 n={len(requests_)} "
        f"sequential_s={sequential:.2f} concurrent_s={concurrent:.2f} req_per_s={len(requests_) / concurrent:.1f} "
        f"failed={failed}"
    )


def bench_tuning_lora_vs_llamafactory():
    """LoRA SFT, one epoch, batch 4, same tiny model and exported dataset, here and in LLaMA-Factory 0.9.5."""
    import subprocess

    from quizbank.exporters.training import export_alpaca, export_llamafactory
    from quizbank.selectors import questions_iter
    from quizbank.services import bank_import
    from tests.conftest import REPO, SHARED
    from tuning.training.bootstrap import bootstrap_tiny_model
    from tuning.training.config import TuningConfig
    from tuning.training.workflow import run_training

    lf_python = REPO / "var" / "llamafactory-venv" / "bin" / "python"
    if not lf_python.exists():
        raise SystemExit("LLaMA-Factory is not installed: run `make compat` once (it installs var/llamafactory-venv)")
    files = sorted((SHARED / "datasets" / "ceval" / "dev").glob("*.csv"))
    files += sorted((SHARED / "datasets" / "gaokao-bench" / "Data" / "Objective_Questions").glob("*.json"))
    bank_import(paths=files, skip_invalid=True)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        n = export_alpaca(questions_iter(), root / "data.json")
        export_llamafactory(questions_iter(), root / "lf")
        records = json.loads((root / "data.json").read_text(encoding="utf-8"))
        bootstrap_tiny_model([text for record in records for text in record.values() if text], root / "tiny")

        config = TuningConfig(
            model_name_or_path=str(root / "tiny"),
            dataset_path=str(root / "data.json"),
            output_dir=str(root / "ours"),
            finetuning_type="lora",
            lora_rank=8,
            lora_alpha=16,
            lora_dropout=0.0,
            learning_rate=2e-4,
            per_device_train_batch_size=4,
            gradient_accumulation_steps=1,
            num_train_epochs=1.0,
            cutoff_len=1024,
            logging_steps=10,
            save_steps=10**6,
        )
        ours = run_training(config).metrics
        ours_tokens_per_s = ours["train_tokens_per_epoch"] / ours["train_seconds"]

        result = subprocess.run(
            [
                str(lf_python),
                str(REPO / "tests" / "compat" / "llamafactory_train.py"),
                str(root / "lf"),
                str(root / "tiny"),
                str(root / "lf-out"),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if result.returncode:
            raise SystemExit(f"LLaMA-Factory training failed:\n{result.stderr[-3000:]}")
        theirs = json.loads(result.stdout.strip().splitlines()[-1])
    theirs_tokens_per_s = theirs["effective_tokens_per_sec"]
    yield (
        f"BENCH tuning_lora_vs_llamafactory ratio={ours_tokens_per_s / theirs_tokens_per_s:.2f} goal=2.0 records={n} "
        f"tokens_per_s={ours_tokens_per_s:.0f} llamafactory_tokens_per_s={theirs_tokens_per_s:.0f} "
        f"loss={ours['train_loss']:.3f} llamafactory_loss={theirs['train_loss']:.3f} "
        f"seconds={ours['train_seconds']:.1f} llamafactory_seconds={theirs['train_runtime']:.1f}"
    )


# name → (function, needs a throw-away database)
BENCHES = {
    "import_100k": (bench_import_100k, True),
    "explain_concurrency": (bench_explain_concurrency, False),
    "tuning_lora_vs_llamafactory": (bench_tuning_lora_vs_llamafactory, True),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=sorted(BENCHES), default=None)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quizsite.settings")
    django.setup()
    from django.test.utils import setup_databases, teardown_databases

    for name, (bench, throwaway_db) in BENCHES.items():
        if args.only not in (None, name):
            continue
        config = setup_databases(verbosity=0, interactive=False) if throwaway_db else None
        try:
            for line in bench():
                print(line, flush=True)
        finally:
            if config is not None:
                teardown_databases(config, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
