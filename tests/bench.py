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
            "type": "single_choice", "subject": f"数学/练习{index % 20}", "stem": f"第 {index} 题：计算 {a} × {b} = ?",
            "options": [str(a * b), str(a * b + 1), str(a * b - 1), str(a + b)], "answer": "A",
            "explanation": f"{a} × {b} = {a * b}，故选 A。", "score": 2, "difficulty": 1 + index % 5,
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
        sheet.append([item["stem"], "单选题", "A", item["explanation"], *item["options"], 2, item["difficulty"], "",
                      item["subject"]])
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
        rows.append(Question(
            subject=subjects[item["subject"]], qtype=item["type"], stem=item["stem"], options=options, answer="A",
            explanation=item["explanation"], score=2, difficulty=item["difficulty"],
            content_hash=content_hash(qtype=item["type"], stem=item["stem"], options=options, answer="A"),
        ))
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


# name → (function, needs a throw-away database)
BENCHES = {"import_100k": (bench_import_100k, True), "explain_concurrency": (bench_explain_concurrency, False)}


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
