"""`make bench`: speed measures taken side by side in one run, one line each:

    BENCH <name> ratio=<x> goal=<y> <key>=<value>...

`make bench ONLY=<name>` runs one. Database measures run on a throw-away test database.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import django

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
REPO_ROOT = Path(__file__).resolve().parent.parent
# submit_vs_bare: its own PostgreSQL database (created and dropped by the bench), a real gunicorn.
BENCH_POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
BENCH_DATABASE = "quizsite_bench"
BENCH_SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
BENCH_WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "3"))
BENCH_CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
BENCH_STUDENTS = int(os.environ.get("BENCH_STUDENTS", "100"))
# The paced phase: every student saves once this often (an exam autosaving while students type).
BENCH_THINK_SECONDS = float(os.environ.get("BENCH_THINK_SECONDS", "1"))
BENCH_QUESTIONS = int(os.environ.get("BENCH_QUESTIONS", "10"))
BENCH_WORKERS = int(os.environ.get("BENCH_WORKERS", str(2 * (os.cpu_count() or 1))))
# gthread keeps connections alive, which the bare view gains most from; answer saves ran as fast per
# server core as with sync workers. Two threads each: more only queue on the GIL and the database.
BENCH_WORKER_CLASS = os.environ.get("BENCH_WORKER_CLASS", "gthread")
BENCH_THREADS = int(os.environ.get("BENCH_THREADS", "2"))


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


# Run with `manage.py shell -c` against the bench database: students with API tokens, one published
# exam paper of demo-bank questions, one open session each. Prints them as JSON on its last line.
SUBMIT_SETUP = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from quizbank.models import Question
from quizbank.services import paper_create, session_start

students, questions = {students}, {questions}
group = Group.objects.get_or_create(name="student")[0]
paper = paper_create(
    title="bench", questions=list(Question.objects.filter(qtype="single_choice").order_by("id")[:questions]),
    published=True,
)
out = []
for index in range(students):
    user = get_user_model().objects.create_user(f"bench{{index}}", password=None)
    user.groups.add(group)
    session = session_start(user=user, paper=paper)
    items = {{
        item.position: item.option_order or item.question.option_keys
        for item in session.items.select_related("question")
    }}
    out.append({{"token": Token.objects.create(user=user).key, "session": session.pk, "items": items}})
print(json.dumps(out))
"""

# Every exam answer row as (session, position, response as sent, client_seq), as JSON.
SUBMIT_DUMP = """
import json
from quizbank.models import Answer
rows = Answer.objects.filter(session__isnull=False).values_list(
    "session_id", "item__position", "response_data", "client_seq"
)
print(json.dumps([list(row) for row in rows]))
"""


@contextmanager
def bench_database():
    """A PostgreSQL database of its own, dropped afterwards whatever happens (never `test`)."""
    import psycopg

    assert BENCH_DATABASE not in ("test", "postgres")
    with psycopg.connect(f"{BENCH_POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DATABASE}")
        try:
            yield f"{BENCH_POSTGRES}/{BENCH_DATABASE}"
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")


def server_env(database_url: str) -> dict[str, str]:
    # CONN_MAX_AGE: each worker thread keeps its connection, as a production server would.
    return {**os.environ, "DATABASE_URL": database_url, "DEBUG": "false", "CONN_MAX_AGE": "600", "LOG_LEVEL": "WARNING"}


def manage(database_url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=server_env(database_url),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn_server(database_url: str, log: Path):
    """gunicorn serving the project's WSGI app on a free loopback port; yields (port, master pid)."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "quizsite.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(BENCH_WORKERS),
        "--worker-class", BENCH_WORKER_CLASS,
        "--threads", str(BENCH_THREADS),
        "--backlog", "2048",
        "--timeout", "60",
        "--log-level", "warning",
    ]  # fmt: skip
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=REPO_ROOT, env=server_env(database_url), stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise SystemExit(f"gunicorn exited at start:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not answer in 60 s:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield port, server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def cpu_seconds(pids) -> float:
    """User + system CPU time of these processes (ones that have gone count as 0)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def child_pids(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def database_pids(database_url: str) -> list[int]:
    """The server processes serving connections to this database (gunicorn's, kept by CONN_MAX_AGE)."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(f"{BENCH_POSTGRES}/postgres") as connection:
        rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name]).fetchall()
    return [pid for (pid,) in rows]


def machine_busy_seconds() -> float:
    """CPU time all cores of this machine spent busy so far (anyone's processes)."""
    with open("/proc/stat") as handle:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, handle.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def measured_phase(run, *, workers: list[int], database: list[int]):
    """Run one phase; returns its result and where the CPU went, in cores: the load generator, gunicorn's
    workers, PostgreSQL's backends for the bench database, and everything else on the machine."""
    before = cpu_seconds(workers), cpu_seconds(database), machine_busy_seconds()
    result = run()
    after = cpu_seconds(workers), cpu_seconds(database), machine_busy_seconds()
    server, db, machine = ((end - start) / result.seconds for start, end in zip(before, after, strict=True))
    return result, {"server": server, "db": db, "other": max(0.0, machine - server - db - result.client_cpu)}


class VirtualStudent:
    """One student answering a session: cycles through its questions, choosing a different option
    each time so that every save is a real write, with a client_seq that only grows."""

    def __init__(self, *, token: str, session: int, items: dict):
        self.token, self.session = token, session
        self.items = sorted((int(position), keys) for position, keys in items.items())
        self.seq = 0
        self.turns = itertools.cycle(self.items)
        self.choices = {position: itertools.cycle(keys) for position, keys in self.items}

    def next_request(self):
        from tests.loadgen import Request

        position, _ = next(self.turns)
        response = next(self.choices[position])
        self.seq += 1
        return Request(
            "PUT",
            f"/api/v1/sessions/{self.session}/answers/{position}",
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
            body=json.dumps({"response": response, "client_seq": self.seq}).encode(),
            tag=(self.session, position, response, self.seq),
        )


def submissions(students: list[VirtualStudent]):
    """One client's requests: its students take turns."""
    for student in itertools.cycle(students):
        yield student.next_request()


def answers_checked(acks, rows) -> tuple[int, int]:
    """(lost, duplicated). acks: (session, position, response, client_seq) of every 200; rows: the same
    for every stored answer. Lost: the item's last acknowledged save is not what the database holds
    (a row with a higher client_seq is a later save whose answer never arrived, not a loss).
    Duplicated: items with more than one row."""
    stored: dict[tuple, list] = {}
    for session, position, response, seq in rows:
        stored.setdefault((session, position), []).append((seq, response))
    last: dict[tuple, tuple] = {}
    for session, position, response, seq in acks:
        if (session, position) not in last or seq > last[(session, position)][0]:
            last[(session, position)] = (seq, response)
    lost = 0
    for key, (seq, response) in last.items():
        row = max(stored.get(key, [(-1, None)]), key=lambda pair: pair[0])
        if row[0] < seq or (row[0] == seq and row[1] != response):
            lost += 1
    return lost, sum(len(found) > 1 for found in stored.values())


def bench_submit_vs_bare():
    """Answer autosaves by many students at once against a bare Django JSON view, on the same gunicorn."""
    from tests.loadgen import Request, run_load

    with bench_database() as database_url:
        manage(database_url, "migrate", "--noinput")
        manage(database_url, "import_questions", "fixtures/demo_bank.json")
        setup = SUBMIT_SETUP.format(students=BENCH_STUDENTS, questions=BENCH_QUESTIONS)
        made = json.loads(manage(database_url, "shell", "-c", setup).strip().splitlines()[-1])
        students = [VirtualStudent(**student) for student in made]
        bare = Request("GET", "/healthz")

        def phase(port, *, submit: bool, seconds: float):
            if submit:
                sources = [submissions(students[index::BENCH_CLIENTS]) for index in range(BENCH_CLIENTS)]
            else:
                sources = [itertools.repeat(bare) for _ in range(BENCH_CLIENTS)]
            return run_load(host="127.0.0.1", port=port, sources=sources, seconds=seconds)

        def paced(port):
            # Every student saving once every BENCH_THINK_SECONDS, each over their own connection.
            sources = [submissions([student]) for student in students]
            return run_load(
                host="127.0.0.1", port=port, sources=sources, seconds=BENCH_SECONDS, every=BENCH_THINK_SECONDS
            )

        with gunicorn_server(database_url, REPO_ROOT / "var" / "bench-gunicorn.log") as (port, master):
            probe = run_load(host="127.0.0.1", port=port, sources=[[students[0].next_request()]], seconds=5)
            first = probe.outcomes[0]
            if first.status != 200:
                raise SystemExit(
                    f"PUT /api/v1/sessions/<id>/answers/<position> answered {first.status} "
                    f"(404 with an HTML page: the answer API is not routed yet): {first.body[:300]!r}"
                )
            warmups = [phase(port, submit=submit, seconds=BENCH_WARMUP_SECONDS) for submit in (False, True)]
            workers, database = child_pids(master), database_pids(database_url)
            bare_result, bare_cpu = measured_phase(
                lambda: phase(port, submit=False, seconds=BENCH_SECONDS), workers=workers, database=database
            )
            submit, cpu = measured_phase(
                lambda: phase(port, submit=True, seconds=BENCH_SECONDS), workers=workers, database=database
            )
            steady = paced(port)
        dump = manage(database_url, "shell", "-c", SUBMIT_DUMP)
    rows = json.loads(dump.strip().splitlines()[-1])
    acks = [
        outcome.tag
        for result in (probe, warmups[1], submit, steady)
        for outcome in result.outcomes
        if outcome.status == 200
    ]
    lost, duplicated = answers_checked(acks, rows)
    yield (
        f"BENCH submit_vs_bare ratio={submit.rps / bare_result.rps:.2f} goal=0.5 rps={submit.rps:.0f} "
        f"bare_rps={bare_result.rps:.0f} p99_ms={submit.latency_ms(99):.1f} bare_p99_ms={bare_result.latency_ms(99):.1f} "
        f"p99_goal_ms=100 p50_ms={submit.latency_ms(50):.1f} bare_p50_ms={bare_result.latency_ms(50):.1f} "
        f"paced_rps={steady.rps:.0f} paced_p50_ms={steady.latency_ms(50):.1f} paced_p99_ms={steady.latency_ms(99):.1f} "
        f"think_s={BENCH_THINK_SECONDS:g} "
        f"lost={lost} duplicated={duplicated} errors={submit.errors + bare_result.errors + steady.errors} "
        f"acked={len(acks)} "
        f"clients={BENCH_CLIENTS} students={len(students)} seconds={BENCH_SECONDS:g} "
        f"server={BENCH_WORKER_CLASS}x{BENCH_WORKERS}x{BENCH_THREADS} cores={os.cpu_count()} "
        f"client_cpu={submit.client_cpu:.2f} server_cpu={cpu['server']:.2f} db_cpu={cpu['db']:.2f} "
        f"other_cpu={cpu['other']:.2f} bare_client_cpu={bare_result.client_cpu:.2f} "
        f"bare_server_cpu={bare_cpu['server']:.2f} bare_other_cpu={bare_cpu['other']:.2f}"
    )


# name → (function, needs a throw-away database)
BENCHES = {
    "import_100k": (bench_import_100k, True),
    "explain_concurrency": (bench_explain_concurrency, False),
    "tuning_lora_vs_llamafactory": (bench_tuning_lora_vs_llamafactory, True),
    # makes and drops its own PostgreSQL database: gunicorn serves it from other processes
    "submit_vs_bare": (bench_submit_vs_bare, False),
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
