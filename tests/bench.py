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


def reader_speeds(path: Path) -> dict[str, dict[str, float]]:
    """The first sheet of `path` read to the end by each candidate reader: rows per second and the growth
    of the process's resident memory, nothing else (no records, no database), so the numbers compare the
    readers alone. Ours goes first: memory a reader takes is rarely handed back to the system."""
    from python_calamine import CalamineWorkbook

    from quizbank.importers.xlsx_table import sheet_rows

    def calamine() -> int:
        with CalamineWorkbook.from_path(str(path)) as workbook:
            return sum(1 for _ in workbook.get_sheet_by_index(0).iter_rows())

    def ownxml() -> int:
        return sum(1 for _ in sheet_rows(path))

    speeds = {}
    for name, read in (("ownxml", ownxml), ("calamine", calamine)):
        with rss_growth() as memory:
            started = time.monotonic()
            rows = read()
            seconds = time.monotonic() - started
        speeds[name] = {"rows_s": rows / seconds, "rss_mb": memory["mb"]}
    return speeds


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
            readers = ""
            if kind == "xlsx":
                # python-calamine reads faster but is not the importer's reader: it holds the whole sheet as one
                # dense grid (its memory grows with the file, and a 1 KB file naming cell ZZZZZZZ2 aborts the
                # process asking for 259 GB) and gives a formula's cached value instead of its text. The
                # numbers show what streaming and those refusals cost.
                speeds = reader_speeds(path)
                readers = " reader=ownxml" + "".join(
                    f" {name}_rows_s={speed['rows_s']:.0f} {name}_rss_mb={speed['rss_mb']:.0f}"
                    for name, speed in speeds.items()
                )
            yield (
                f"BENCH {name} ratio={seconds / baseline:.2f} goal=3.0 rows={ROWS} import_s={seconds:.1f} "
                f"bulk_create_s={baseline:.1f} rss_growth_mb={memory['mb']:.0f} file_mb={path.stat().st_size / 2**20:.1f}"
                f"{readers}"
            )


# LLaMA-Factory 0.9.5's options for this work, each laid over its defaults; the fastest is the one compared
# with "best". Its defaults checkpoint activations (memory for time); group_by_length pads less; packing
# (cross-attention between the packed examples) and neat_packing (none) fill each row to cutoff_len.
LF_NO_CHECKPOINTING = {"disable_gradient_checkpointing": True}
LF_GROUPED = LF_NO_CHECKPOINTING | {"train_sampling_strategy": "group_by_length"}
LF_SETTINGS = {
    "defaults": {},
    "no_checkpointing": LF_NO_CHECKPOINTING,
    "grouped": LF_GROUPED,
    "grouped_eager": LF_GROUPED | {"flash_attn": "disabled"},  # its name for eager attention
    "packing": LF_NO_CHECKPOINTING | {"packing": True},
    "neat_packing": LF_NO_CHECKPOINTING | {"neat_packing": True},
}
# Speed counts only at no worse a result: a ratio is 0 when our final training loss is above the other's
# by more than this fraction.
LOSS_TOLERANCE = 0.01


def bench_tuning_lora_vs_llamafactory():
    """LoRA SFT, one epoch, batch 4, same tiny model and exported dataset, here and in LLaMA-Factory 0.9.5
    with its defaults and with each of LF_SETTINGS; tokens are each side's own, padding left out."""
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

        # the same knobs as LLaMA-Factory's side (tests/compat/llamafactory_train.py); the rest are our defaults
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
        first = run_training(config).metrics
        runs = {name: llamafactory_run(lf_python, root, name, settings) for name, settings in LF_SETTINGS.items()}
        # ours again after theirs: on a shared machine the load moves within minutes, and LF's best is
        # already the best of several runs; each side is measured at its fastest
        second = run_training(config).metrics
    ours = min(first, second, key=lambda metrics: metrics["train_seconds"])
    ours_tps = ours["train_tokens_per_epoch"] * ours["epochs"] / ours["train_seconds"]
    default = runs["defaults"]
    best_name = max(runs, key=lambda name: runs[name]["tps"])
    best = runs[best_name]
    ours_loss = ours["train_loss"]

    def ratio(theirs: dict) -> float:
        return ours_tps / theirs["tps"] if ours_loss <= theirs["loss"] * (1 + LOSS_TOLERANCE) else 0.0

    settings = ",".join(f"{key}={json.dumps(value)}" for key, value in LF_SETTINGS[best_name].items()) or "defaults"
    tried = ",".join(f"{name}:{run['tps']:.0f}:{run['loss']:.3f}" for name, run in runs.items())
    yield (
        f"BENCH tuning_lora_vs_llamafactory ratio={ratio(default):.2f} best_ratio={ratio(best):.2f} goal=1.5 "
        f"ours_tps={ours_tps:.0f} lf_default_tps={default['tps']:.0f} lf_best_tps={best['tps']:.0f} "
        f"lf_best_settings={settings} ours_loss={ours_loss:.4f} lf_default_loss={default['loss']:.4f} "
        f"lf_best_loss={best['loss']:.4f} records={n} ours_seconds={first['train_seconds']:.1f},"
        f"{second['train_seconds']:.1f} lf_runs={tried}"
    )


def llamafactory_run(lf_python: Path, root: Path, name: str, settings: dict) -> dict:
    """One LLaMA-Factory training on the bench's data: its tokens per second (padding left out) and loss."""
    from tests.conftest import REPO

    script = REPO / "tests" / "compat" / "llamafactory_train.py"
    command = [str(lf_python), str(script), str(root / "lf"), str(root / "tiny"), str(root / f"lf-{name}")]
    result = subprocess.run([*command, json.dumps(settings)], capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise SystemExit(f"LLaMA-Factory training ({name}) failed:\n{result.stderr[-3000:]}")
    theirs = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "tps": theirs["real_tokens"] / theirs["train_runtime"],
        "loss": theirs["train_loss"],
        "seconds": theirs["train_runtime"],
    }


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
def bench_database(name: str = BENCH_DATABASE):
    """A PostgreSQL database of its own, dropped afterwards whatever happens (never `test`)."""
    import psycopg

    assert name not in ("test", "postgres") and name.startswith(BENCH_DATABASE)
    with psycopg.connect(f"{BENCH_POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield f"{BENCH_POSTGRES}/{name}"
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def server_env(database_url: str) -> dict[str, str]:
    # CONN_MAX_AGE: each worker thread keeps its connection, as a production server would.
    return {**os.environ, "DATABASE_URL": database_url, "DEBUG": "false", "CONN_MAX_AGE": "600", "LOG_LEVEL": "WARNING"}


def manage(database_url: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**server_env(database_url), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def free_port() -> int:
    from core.ports import free_port as loopback_port

    return loopback_port()


@contextmanager
def gunicorn_server(
    database_url: str,
    log: Path,
    *,
    workers: int | None = None,
    threads: int | None = None,
    env: dict[str, str] | None = None,
):
    """gunicorn serving the project's WSGI app on a free loopback port; yields (port, master pid).
    workers and threads default to BENCH_WORKERS and BENCH_THREADS; env adds to the server's environment."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "quizsite.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers or BENCH_WORKERS),
        "--worker-class", BENCH_WORKER_CLASS,
        "--threads", str(threads or BENCH_THREADS),
        "--backlog", "2048",
        "--timeout", "60",
        "--log-level", "warning",
    ]  # fmt: skip
    with log.open("w") as output:
        server = subprocess.Popen(
            command, cwd=REPO_ROOT, env={**server_env(database_url), **(env or {})}, stdout=output, stderr=output
        )
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


def reference_cpu_ms() -> float:
    """One core's speed for Python on this machine: the best of five timings of a fixed piece of the
    work a request does (JSON in and out, a regular expression, sorting). It tells a slower core from
    slower code; contention between processes shows in the CPU per request instead."""
    import re as regex

    document = {
        f"item{index}": {"position": index, "response": ["A", "C"], "stem": "题干 " * 20} for index in range(40)
    }
    pattern = regex.compile(r"item(\d+)")
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(200):
            text = json.dumps(document, ensure_ascii=False)
            json.loads(text)
            sorted(int(found) for found in pattern.findall(text))
        best = min(best, time.process_time() - started)
    return best * 1000


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

    def next_request(self, bare: bool = False):
        """The next save; `bare`: to the bare upsert of tests.bench_site instead of the answer API."""
        from tests.loadgen import Request

        position, _ = next(self.turns)
        response = next(self.choices[position])
        self.seq += 1
        return Request(
            "PUT",
            f"/{'bench/bare' if bare else 'api/v1'}/sessions/{self.session}/answers/{position}",
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
            body=json.dumps({"response": response, "client_seq": self.seq}).encode(),
            tag=(self.session, position, response, self.seq),
        )


def submissions(students: list[VirtualStudent], bare: bool = False):
    """One client's requests: its students take turns."""
    for student in itertools.cycle(students):
        yield student.next_request(bare)


def answers_checked(sent, acks, rows) -> tuple[int, int]:
    """(lost, duplicated), from what was stored against what was sent and acknowledged. sent and acks:
    (session, position, response, client_seq) of every save sent and of every 200; rows: the same for
    every stored answer.

    Lost: an item whose last acknowledged save is not what the database holds (a stored row with a
    higher client_seq is a later save whose answer never arrived, not a loss). Duplicated: an item
    stored more than once, or whose stored row is not one save as sent (its content with another
    save's client_seq: a save applied twice, over a later one, or mixed with another)."""
    stored: dict[tuple, list] = {}
    for session, position, response, seq in rows:
        stored.setdefault((session, position), []).append((seq, response))
    saves: dict[tuple, dict] = {}
    for session, position, response, seq in sent:
        saves.setdefault((session, position), {})[seq] = response
    last: dict[tuple, tuple] = {}
    for session, position, response, seq in acks:
        if (session, position) not in last or seq > last[(session, position)][0]:
            last[(session, position)] = (seq, response)
    lost = 0
    for key, (seq, response) in last.items():
        row = max(stored.get(key, [(-1, None)]), key=lambda pair: pair[0])
        if row[0] < seq or (row[0] == seq and row[1] != response):
            lost += 1
    duplicated = sum(
        len(found) > 1 or any(saves.get(key, {}).get(seq, ...) != response for seq, response in found)
        for key, found in stored.items()
    )
    return lost, duplicated


def bench_submit_vs_bare():
    """Answer autosaves by many students at once against a bare save on the same gunicorn, the same
    table and the same students: a minimal Django view with the same token authentication and one
    INSERT … ON CONFLICT … UPDATE (tests.bench_site). Every save of both phases is checked against
    what the database holds (lost, duplicated)."""
    from tests.loadgen import run_load

    with bench_database() as database_url:
        manage(database_url, "migrate", "--noinput")
        manage(database_url, "import_questions", "fixtures/demo_bank.json")
        setup = SUBMIT_SETUP.format(students=BENCH_STUDENTS, questions=BENCH_QUESTIONS)
        made = json.loads(manage(database_url, "shell", "-c", setup).strip().splitlines()[-1])
        students = [VirtualStudent(**student) for student in made]

        def phase(port, *, submit: bool, seconds: float):
            sources = [submissions(students[index::BENCH_CLIENTS], bare=not submit) for index in range(BENCH_CLIENTS)]
            return run_load(host="127.0.0.1", port=port, sources=sources, seconds=seconds)

        def paced(port):
            # Every student saving once every BENCH_THINK_SECONDS, each over their own connection.
            sources = [submissions([student]) for student in students]
            return run_load(
                host="127.0.0.1", port=port, sources=sources, seconds=BENCH_SECONDS, every=BENCH_THINK_SECONDS
            )

        bench_site = {"DJANGO_SETTINGS_MODULE": "tests.bench_settings"}
        with gunicorn_server(database_url, REPO_ROOT / "var" / "bench-gunicorn.log", env=bench_site) as (port, master):
            probe = run_load(host="127.0.0.1", port=port, sources=[[students[0].next_request()]], seconds=5)
            bare_probe = run_load(
                host="127.0.0.1", port=port, sources=[[students[0].next_request(bare=True)]], seconds=5
            )
            for result in (probe, bare_probe):
                first = result.outcomes[0]
                if first.status != 200:
                    raise SystemExit(f"{first.tag} answered {first.status}: {first.body[:300]!r}")
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
    # Both kinds of save write the same rows: every one is checked, in the order they were made.
    results = (probe, bare_probe, *warmups, bare_result, submit, steady)
    sent = [outcome.tag for result in results for outcome in result.outcomes]
    acks = [outcome.tag for result in results for outcome in result.outcomes if outcome.status == 200]
    lost, duplicated = answers_checked(sent, acks, rows)
    failures = submit.errors + bare_result.errors + steady.errors
    valid = lost == 0 and duplicated == 0 and failures == 0
    yield (
        f"BENCH submit_vs_bare ratio={submit.rps / bare_result.rps if valid else 0.0:.2f} goal=0.5 bare=upsert "
        f"rps={submit.rps:.0f} "
        f"bare_rps={bare_result.rps:.0f} p99_ms={submit.latency_ms(99):.1f} bare_p99_ms={bare_result.latency_ms(99):.1f} "
        f"p99_goal_ms=100 p50_ms={submit.latency_ms(50):.1f} bare_p50_ms={bare_result.latency_ms(50):.1f} "
        f"paced_rps={steady.rps:.0f} paced_p50_ms={steady.latency_ms(50):.1f} paced_p99_ms={steady.latency_ms(99):.1f} "
        f"think_s={BENCH_THINK_SECONDS:g} "
        f"lost={lost} duplicated={duplicated} errors={failures} "
        f"acked={len(acks)} "
        f"clients={BENCH_CLIENTS} students={len(students)} seconds={BENCH_SECONDS:g} "
        f"server={BENCH_WORKER_CLASS}x{BENCH_WORKERS}x{BENCH_THREADS} cores={os.cpu_count()} "
        f"client_cpu={submit.client_cpu:.2f} server_cpu={cpu['server']:.2f} db_cpu={cpu['db']:.2f} "
        f"other_cpu={cpu['other']:.2f} bare_client_cpu={bare_result.client_cpu:.2f} "
        f"bare_server_cpu={bare_cpu['server']:.2f} bare_other_cpu={bare_cpu['other']:.2f} "
        f"server_ms_per_save={cpu['server'] * 1000 / max(submit.rps, 1e-9):.2f} "
        f"bare_server_ms_per_save={bare_cpu['server'] * 1000 / max(bare_result.rps, 1e-9):.2f} "
        f"cpu_ref_ms={reference_cpu_ms():.1f}"
    )


# Run with `manage.py shell -c` after `PARAMS = {...}`: students who each finished an exam; a session
# cookie for each (the login a browser would hold). Prints JSON on its last line.
STUDENTS_SETUP = """
import json
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from quizbank.models import Answer, Question, QuestionExplanation
from quizbank.services import paper_create, session_answer_save, session_finish, session_start
from tuning.models import ModelVersion

ModelVersion.objects.create(name=PARAMS["version"], path=PARAMS["path"], method="full", is_active=True)
chosen = list(Question.objects.filter(qtype="single_choice").order_by("id")[: PARAMS["questions"]])
if PARAMS["precomputed"]:
    QuestionExplanation.objects.bulk_create(
        QuestionExplanation(
            question=question,
            model_version=PARAMS["version"],
            text=f"bench-precomputed-{question.pk}: the model's explanation, written before the exam.",
            model_answer=question.answer,
        )
        for question in chosen
    )
paper = paper_create(
    title="bench", questions=chosen, published=True, mode="exam",
    review_score="immediately", review_correctness="immediately",
    review_answer="immediately", review_explanation="immediately",
)
group = Group.objects.get_or_create(name="student")[0]
out = []
for index in range(PARAMS["students"]):
    user = get_user_model().objects.create_user(f"bench{index}", password=None)
    user.groups.add(group)
    session = session_start(user=user, paper=paper)
    items = list(session.items.select_related("question").order_by("position"))
    # All: every question answered, every other one wrong. One: only one question (its own), wrong.
    answered = items if PARAMS["answer_all"] else [items[index % len(items)]]
    for turn, item in enumerate(answered):
        question = item.question
        wrong = turn % 2 == 0
        key = next(k for k in question.option_keys if (k != question.answer) == wrong)
        session_answer_save(user=user, session_id=session.pk, position=item.position, response=key)
    session_finish(user=user, session_id=session.pk)
    first = Answer.objects.select_related("question").get(session=session, item=answered[0])
    assert first.is_correct is False, first
    browser = Client()  # one each: logging another user in on the same session would end this one's
    browser.force_login(user)
    out.append({
        "session": session.pk,
        "answer": first.pk,
        "cookie": browser.cookies[settings.SESSION_COOKIE_NAME].value,
    })
print(json.dumps(out))
"""
# The model tasks (grading, explaining the bank) are not what these benches measure.
NO_MODEL_TASKS = {"MODEL_TASKS_ON_EVENTS": "false"}


def students_setup(database_url: str, **params) -> list[dict]:
    script = f"PARAMS = {params!r}\n" + STUDENTS_SETUP
    out = manage(database_url, "shell", "-c", script, env=NO_MODEL_TASKS)
    return json.loads(out.strip().splitlines()[-1])


# One client per core: the p99 of a page load, not of requests queued behind more clients than cores.
BENCH_REVIEW_CLIENTS = max(1, int(os.environ.get("BENCH_REVIEW_CLIENTS") or os.cpu_count() or 1))


def bench_explain_review_p99():
    """A finished exam's review page with the model's precomputed explanations, no model server up."""
    from tests.loadgen import Request, run_load

    version = "bench-review-version"
    with bench_database() as database_url:
        manage(database_url, "migrate", "--noinput")
        manage(database_url, "import_questions", "fixtures/demo_bank.json")
        made = students_setup(
            database_url, version=version, path="", questions=BENCH_QUESTIONS, students=8,
            precomputed=True, answer_all=True,
        )  # fmt: skip
        pages = [
            Request(
                "GET", f"/sessions/{student['session']}/review/", headers={"Cookie": f"sessionid={student['cookie']}"}
            )
            for student in made
        ]
        closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: a model call would fail the page or stall it
        env = {**NO_MODEL_TASKS, "INFERENCE_URLS": closed}
        with gunicorn_server(database_url, REPO_ROOT / "var" / "bench-gunicorn.log", env=env) as (port, _):
            probe = run_load(host="127.0.0.1", port=port, sources=[[pages[0]]], seconds=30, timeout=30).outcomes[0]
            html = probe.body.decode("utf-8", "replace")
            if probe.status != 200:
                raise SystemExit(f"the review page answered {probe.status}: {html[:500]}")
            shown = html.count("bench-precomputed-")
            if shown != BENCH_QUESTIONS or "AI" not in html or f"· {version}" not in html:
                raise SystemExit(
                    f"the review page lacks the precomputed explanations ({shown} shown) or their AI label"
                )

            def phase(seconds: float):
                clients = BENCH_REVIEW_CLIENTS
                sources = [itertools.cycle(pages[index::clients] or pages) for index in range(clients)]
                return run_load(host="127.0.0.1", port=port, sources=sources, seconds=seconds, timeout=30)

            phase(BENCH_WARMUP_SECONDS)
            result = phase(BENCH_SECONDS)
    p99 = result.latency_ms(99)
    yield (
        f"BENCH explain_review_p99 ratio={p99 / 50:.2f} goal=1.0 p99_ms={p99:.1f} p50_ms={result.latency_ms(50):.1f} "
        f"rps={result.rps:.0f} requests={result.count} errors={result.errors} clients={BENCH_REVIEW_CLIENTS} "
        f"questions={BENCH_QUESTIONS} server={BENCH_WORKER_CLASS}x{BENCH_WORKERS}x{BENCH_THREADS} "
        f"cores={os.cpu_count()}"
    )


EXPLAIN_STUDENTS = int(os.environ.get("BENCH_EXPLAIN_STUDENTS", "32"))
# Every reply exactly this long (min_tokens = max_tokens): the memorised explanations end after a few
# tokens, which would leave the server nothing to batch.
EXPLAIN_TOKENS = 64
# Below this gain straight against the server there is too little batching for the app's share to mean much.
EXPLAIN_RAW_GOAL = 3.0
EXPLAIN_WARMUP = 2


def sse_events(body: bytes) -> list[tuple[str, dict]]:
    """A text/event-stream body as (event, data) pairs; an event without a name is `message`."""
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        name, data = "message", None
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data = json.loads(line[len("data:") :])
        if data is not None:
            events.append((name, data))
    return events


def streamed_explanation(status: int, body: bytes) -> str | None:
    """The model's text of one explain stream, or None unless it answered 200 and ended with the
    model's done event."""
    if status != 200:
        return None
    events = sse_events(body)
    if not events or events[-1][0] != "done" or events[-1][1].get("source") != "model":
        return None
    if any(name == "note" for name, _ in events):
        return None
    return "".join(data.get("text", "") for name, data in events if name == "message") or None


def vllm_counter(url: str, name: str, label: str = "") -> float:
    """One of vLLM's Prometheus counters, summed over the series whose labels include `label`."""
    from inference.engines.http import auth_headers, model_server_api_key

    metrics = urllib.request.Request(f"{url}/metrics", headers=auth_headers(model_server_api_key()))
    with urllib.request.urlopen(metrics, timeout=10) as answer:
        text = answer.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((f"{name}{{", f"{name} ")) and label in line
    )


def vllm_requests_done(url: str) -> float:
    """vLLM's count of finished requests."""
    return vllm_counter(url, "vllm:request_success_total")


def vllm_generated(url: str) -> tuple[float, float, float]:
    """vLLM's finished requests, those of them that ended at max_tokens, and the tokens it generated,
    once they stop moving (the server counts a request just after its last words are sent)."""

    def read() -> tuple[float, float, float]:
        return (
            vllm_requests_done(url),
            vllm_counter(url, "vllm:request_success_total", 'finished_reason="length"'),
            vllm_counter(url, "vllm:generation_tokens_total"),
        )

    counts = read()
    for _ in range(20):
        time.sleep(0.25)
        counts, before = read(), counts
        if counts == before:
            break
    return counts


def bench_explain_concurrency():
    """Students' wrong answers explained (streamed) through the app, 32 at once vs one at a time, beside
    the same gain straight against the vLLM server: the app should keep most of the server's batching.

    Every reply is EXPLAIN_TOKENS long on both sides (min_tokens = max_tokens), checked on the server's
    counters. The server is asked one at a time what the app sent together and together what it sent one
    at a time: each text must be the same both ways, so batching changed no answer and the app streamed
    what the server wrote. The ratio counts only when nothing failed, every text matched and every reply
    had its full length; otherwise it is reported as 0."""
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings

    from inference.engines.base import ModelServerError
    from inference.engines.http import HttpEngine
    from tests.conftest import VLLMServer
    from tests.loadgen import Request, run_load
    from tuning.models import ModelVersion

    version = ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        raise SystemExit("no active model version: run `make setup-demo` first")
    n = EXPLAIN_STUDENTS
    server = VLLMServer(Path(version.path), version.name, REPO_ROOT / "var" / "bench-vllm.log")
    try:
        with bench_database() as database_url:
            manage(database_url, "migrate", "--noinput")
            manage(database_url, "import_questions", "fixtures/demo_bank.json")
            total = 2 * n + 2 * EXPLAIN_WARMUP
            # Each student answered a question of their own, wrongly: no two explanations are the same.
            made = students_setup(
                database_url, version=version.name, path=version.path, questions=total, students=total,
                precomputed=False, answer_all=False,
            )  # fmt: skip
            messages = explain_messages(database_url, [student["answer"] for student in made])
            streams = [
                Request(
                    "GET",
                    f"/api/v1/answers/{student['answer']}/explain/stream",
                    headers={"Cookie": f"sessionid={student['cookie']}"},
                    tag=student["answer"],
                )
                for student in made
            ]
            server.wait_ready()
            env = {
                **NO_MODEL_TASKS,
                "INFERENCE_URLS": server.url,
                "VLLM_API_KEY": server.api_key,
                "INFERENCE_MAX_TOKENS": str(EXPLAIN_TOKENS),
                "EXPLAIN_MIN_TOKENS": str(EXPLAIN_TOKENS),
                "INFERENCE_TIMEOUT": "300",
            }
            log = REPO_ROOT / "var" / "bench-gunicorn.log"
            with gunicorn_server(database_url, log, workers=2, threads=n // 2, env=env) as (port, _):

                def app(requests_, *, together: bool):
                    sources = [[request] for request in requests_] if together else [requests_]
                    result = run_load(host="127.0.0.1", port=port, sources=sources, seconds=3600, timeout=300)
                    done = {outcome.tag: outcome for outcome in result.outcomes}
                    texts = [
                        streamed_explanation(done[r.tag].status, done[r.tag].body) if r.tag in done else None
                        for r in requests_
                    ]
                    return len(requests_) / result.seconds, texts

                warm_app, app_seq_part, app_conc_part, warm_raw = (
                    slice(0, EXPLAIN_WARMUP),
                    slice(EXPLAIN_WARMUP, EXPLAIN_WARMUP + n),
                    slice(EXPLAIN_WARMUP + n, EXPLAIN_WARMUP + 2 * n),
                    slice(EXPLAIN_WARMUP + 2 * n, total),
                )
                _, warm_texts = app(streams[warm_app], together=False)
                if not all(warm_texts):
                    raise SystemExit(f"the app did not stream explanations: see {log} and {server.log_path}")
                explained_again(port, streams[warm_app][0], server.url)
                counted = [vllm_generated(server.url)]
                app_seq_rps, app_seq_texts = app(streams[app_seq_part], together=False)
                app_conc_rps, app_conc_texts = app(streams[app_conc_part], together=True)
                counted.append(vllm_generated(server.url))

            client = HttpEngine(urls=[server.url], model=settings.INFERENCE_MODEL_NAME, timeout=300)

            def raw_one(chat: list[dict]) -> str:
                try:
                    return "".join(client.chat_stream(chat, max_tokens=EXPLAIN_TOKENS, min_tokens=EXPLAIN_TOKENS))
                except ModelServerError:  # counted as a failure
                    return ""

            def raw(chats: list[list[dict]], *, together: bool):
                started = time.monotonic()
                if together:
                    with ThreadPoolExecutor(max_workers=len(chats)) as pool:
                        texts = list(pool.map(raw_one, chats))
                else:
                    texts = [raw_one(chat) for chat in chats]
                return len(chats) / (time.monotonic() - started), texts

            raw(messages[warm_raw], together=False)
            # The very messages the app sent, each group the other way round.
            counted.append(vllm_generated(server.url))
            raw_seq_rps, raw_seq_texts = raw(messages[app_conc_part], together=False)
            raw_conc_rps, raw_conc_texts = raw(messages[app_seq_part], together=True)
            counted.append(vllm_generated(server.url))
    finally:
        server.stop()
    app_gain, raw_gain = app_conc_rps / app_seq_rps, raw_conc_rps / raw_seq_rps
    app_texts, raw_texts = app_seq_texts + app_conc_texts, raw_conc_texts + raw_seq_texts
    failed = sum(not text for text in app_texts + raw_texts)
    # Greedy decoding of the same messages, alone and batched: the same text, and the app's the server's.
    same = sum(bool(a) and a == r for a, r in zip(app_texts, raw_texts, strict=True))
    same_text = same == len(app_texts)
    # The measured requests only (not the warm-ups): (finished, ended at max_tokens, tokens generated)
    requests, at_length, generated = (
        (counted[1][i] - counted[0][i]) + (counted[3][i] - counted[2][i]) for i in range(3)
    )
    full_length = requests == 4 * n and at_length == requests and generated == requests * EXPLAIN_TOKENS
    valid = failed == 0 and same_text and full_length
    yield (
        f"BENCH explain_concurrency ratio={app_gain if valid else 0.0:.2f} goal={0.8 * raw_gain:.2f} "
        f"raw={raw_gain:.2f} raw_goal={EXPLAIN_RAW_GOAL:.1f} failed={failed} same_text={same_text} "
        f"same={same}/{len(app_texts)} tokens={EXPLAIN_TOKENS} "
        f"generated_per_request={generated / max(requests, 1):.1f} at_length={at_length:.0f}/{requests:.0f} "
        f"app_gain={app_gain:.2f} app_seq_rps={app_seq_rps:.2f} app_conc_rps={app_conc_rps:.2f} "
        f"raw_seq_rps={raw_seq_rps:.2f} raw_conc_rps={raw_conc_rps:.2f} students={n} "
        f"server={BENCH_WORKER_CLASS}x2x{n // 2} cores={os.cpu_count()}"
    )


# The chat the app sends for each answer (inference.explanations.wrong_answer_request), as JSON.
EXPLAIN_MESSAGES = """
import json
from inference.explanations import wrong_answer_request
from quizbank.models import Answer

answers = Answer.objects.select_related("question").in_bulk(PARAMS["answers"])
print(json.dumps([wrong_answer_request(answers[pk], max_tokens=PARAMS["tokens"])["messages"] for pk in PARAMS["answers"]]))
"""


def explain_messages(database_url: str, answer_ids: list[int]) -> list[list[dict]]:
    params = {"answers": answer_ids, "tokens": EXPLAIN_TOKENS}
    out = manage(database_url, "shell", "-c", f"PARAMS = {params!r}\n" + EXPLAIN_MESSAGES, env=NO_MODEL_TASKS)
    return json.loads(out.strip().splitlines()[-1])


def explained_again(port: int, stream, model_url: str) -> None:
    """A second request for an answer explained already: the explanation kept on the answer, no model call."""
    from tests.loadgen import run_load

    before = vllm_requests_done(model_url)
    outcome = run_load(host="127.0.0.1", port=port, sources=[[stream]], seconds=60, timeout=60).outcomes[0]
    events = sse_events(outcome.body) if outcome.status == 200 else []
    kept = bool(events) and events[-1][0] == "done" and "text" not in events[-1][1]
    if not kept or not streamed_explanation(outcome.status, outcome.body) or vllm_requests_done(model_url) != before:
        raise SystemExit(f"a second request for an explained answer was not answered from the answer: {events[-2:]}")


# load_200_students: a class taking an exam through the API on gunicorn + PostgreSQL, with a real Celery
# worker on Redis behind it (finishing queues the essay's model grading). Loopback only, bounded.
BENCH_LOAD_STUDENTS = int(os.environ.get("BENCH_LOAD_STUDENTS", "200"))
BENCH_LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
# A student sends one request (start, a save, the submission) about this often: reading and typing.
BENCH_LOAD_THINK_SECONDS = float(os.environ.get("BENCH_LOAD_THINK_SECONDS", "1.5"))
BENCH_LOAD_QUESTIONS = int(os.environ.get("BENCH_LOAD_QUESTIONS", "10"))  # the last one an essay
# A Redis database of the bench's own, emptied before and after (never the broker the tests use).
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

# Run with `manage.py shell -c` after `PARAMS = {...}`: one paper (choice questions and an essay,
# unlimited attempts) and the students' API tokens. Prints JSON on its last line.
LOAD_SETUP = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from quizbank.models import Question
from quizbank.services import paper_create, question_create

essay = question_create(data={
    "subject": "语文/写作", "qtype": "essay", "stem": "用一段话说说你今天学到了什么。",
    "answer": "言之有物即可。", "score": 5,
})
chosen = list(Question.objects.filter(qtype="single_choice").order_by("id")[: PARAMS["questions"] - 1])
paper = paper_create(title="load", questions=[*chosen, essay], published=True, mode="exam", attempts_allowed=0)
group = Group.objects.get_or_create(name="student")[0]
tokens = []
for index in range(PARAMS["students"]):
    user = get_user_model().objects.create_user(f"load{index}", password=None)
    user.groups.add(group)
    tokens.append(Token.objects.create(user=user).key)
print(json.dumps({"paper": paper.pk, "tokens": tokens}))
"""

# Every exam answer row and every attempt's state, as JSON.
LOAD_DUMP = """
import json
from quizbank.models import Answer, QuizSession
rows = Answer.objects.filter(session__isnull=False).values_list(
    "session_id", "item__position", "response_data", "client_seq"
)
sessions = dict(QuizSession.objects.values_list("pk", "state"))
print(json.dumps({"rows": [list(row) for row in rows], "sessions": sessions}))
"""


@contextmanager
def celery_worker(env: dict[str, str], log: Path):
    """A real worker consuming every queue, as the one-machine Procfile runs it; stopped afterwards."""
    command = [
        "nice", "-n", "10", sys.executable, "-m", "celery", "-A", "quizsite", "worker", "-Q", "celery,tuning,inference",
        "--pool", "solo", "--prefetch-multiplier", "1", "-l", "info", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    with log.open("w") as output:
        worker = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the Celery worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield worker
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def exam_student(
    connection, *, token: str, paper: int, think: float, offset: float, deadline: float, out, attempts=None
):
    """One student: start an attempt, answer every question (a save every `think` s), submit; again
    until the deadline, or `attempts` times. Appends (kind, tag, status, latency) to out; the saves' tags as answers_checked
    wants them."""
    import asyncio

    from tests.loadgen import TRANSPORT_ERROR, Request

    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    due = time.monotonic() + offset

    async def send(kind: str, method: str, path: str, body: dict | None = None, tag=None):
        nonlocal due
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        due = max(due + think, time.monotonic())
        if time.monotonic() >= deadline:
            return None
        payload = json.dumps(body).encode() if body is not None else b""
        started = time.monotonic()
        # A keep-alive connection the server closed while the student was thinking (gunicorn keeps an
        # idle one 2 s) fails at once: sent again on a new one, as a browser does. All three requests
        # are safe to repeat (a start resumes, a save carries its client_seq, a second finish is a no-op).
        for reused in (connection.writer is not None, False):
            try:
                request = connection.request(Request(method, path, headers, payload))
                status, data = await asyncio.wait_for(request, 30)
                break
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
                connection.close()
                status, data = TRANSPORT_ERROR, b""
                if not reused:
                    break
        out.append((kind, tag, status, time.monotonic() - started))
        return status, data

    seq = 0
    taken = 0
    while time.monotonic() < deadline and (attempts is None or taken < attempts):
        taken += 1
        started = await send("start", "POST", f"/api/v1/papers/{paper}/sessions")
        if started is None:
            return
        if started[0] not in (200, 201):
            continue
        attempt = json.loads(started[1])
        session = attempt["id"]
        for item in attempt["items"]:
            options = [option["key"] for option in item.get("options") or []]
            seq += 1
            response = options[seq % len(options)] if options else f"第 {seq} 次作答：{token[:6]} 的看法。"
            saved = await send(
                "save", "PUT", f"/api/v1/sessions/{session}/answers/{item['position']}",
                {"response": response, "client_seq": seq}, tag=(session, item["position"], response, seq),
            )  # fmt: skip
            if saved is None:
                return
        await send("finish", "POST", f"/api/v1/sessions/{session}/finish", tag=session)


def run_class(
    port: int,
    *,
    paper: int,
    tokens: list[str],
    seconds: float,
    think: float,
    ramp: float | None = None,
    attempts: int | None = None,
):
    """Every student on a keep-alive connection of their own, starting spread over `ramp` seconds (one
    think time by default); each takes `attempts` exams, or exams until `seconds` have passed."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from tests.loadgen import _Connection

    async def run():
        out: list = []
        started = time.monotonic()
        connections = [_Connection("127.0.0.1", port) for _ in tokens]
        try:
            await asyncio.gather(
                *(
                    exam_student(
                        connection,
                        token=token,
                        paper=paper,
                        think=think,
                        offset=index * (ramp or think) / len(tokens),
                        deadline=started + seconds,
                        out=out,
                        attempts=attempts,
                    )
                    for index, (connection, token) in enumerate(zip(connections, tokens, strict=True))
                )
            )
        finally:
            for connection in connections:
                connection.close()
        return out, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def bench_load_200_students():
    """A class of students taking an exam at once: start → answer every question → submit, with think
    time, for a fixed time, on one gunicorn straight on PostgreSQL; then every acknowledged save must be
    stored exactly once and every acknowledged submission finished (tests.bench_scale.exam_day)."""
    from tests.bench_scale import class_line, exam_day

    students, seconds, think = BENCH_LOAD_STUDENTS, BENCH_LOAD_SECONDS, BENCH_LOAD_THINK_SECONDS
    measures = exam_day(students=students, think=think, seconds=seconds, ramp=None, proxied=False)
    yield class_line("load_200_students", measures, students=students, seconds=seconds, think=think, proxied=False)


def bench_load_200_students_proxy():
    """The same class and mix through HAProxy (two gunicorns) and PgBouncer: the two shapes side by side."""
    from tests.bench_scale import bench_load_200_students_proxy as run

    yield from run(BENCH_LOAD_STUDENTS, BENCH_LOAD_SECONDS, BENCH_LOAD_THINK_SECONDS)


def bench_load_1000_students():
    """1,000 students with a 10 s think time through HAProxy and PgBouncer (tests.bench_scale)."""
    from tests.bench_scale import bench_load_1000_students as run

    yield from run()


# name → (function, needs a throw-away database)
BENCHES = {
    "import_100k": (bench_import_100k, True),
    "tuning_lora_vs_llamafactory": (bench_tuning_lora_vs_llamafactory, True),
    # makes and drops its own PostgreSQL database: gunicorn serves it from other processes
    "submit_vs_bare": (bench_submit_vs_bare, False),
    # these two make and drop their own PostgreSQL database as well
    "explain_review_p99": (bench_explain_review_p99, False),
    "explain_concurrency": (bench_explain_concurrency, False),
    # its own PostgreSQL database and Redis database, gunicorn and a Celery worker
    "load_200_students": (bench_load_200_students, False),
    # the production shape on loopback: HAProxy before two gunicorns, PgBouncer before PostgreSQL
    "load_200_students_proxy": (bench_load_200_students_proxy, False),
    "load_1000_students": (bench_load_1000_students, False),
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
