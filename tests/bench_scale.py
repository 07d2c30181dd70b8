"""Past one machine: the exam-day loads on the production shape, on loopback. Two gunicorn instances
behind HAProxy, PgBouncer in transaction mode before PostgreSQL, Celery on Redis (deploy/ and
docs/deploy.md), beside the one-server shape of load_200_students.

    load_200_students        one gunicorn straight on PostgreSQL (the shape `make run` starts)
    load_200_students_proxy  the same class, the same mix, through HAProxy and PgBouncer
    load_1000_students       1,000 students, 10 s think time, starting over 30 s, one exam each

HAProxy and PgBouncer are Debian's (`make scale-tools`); their configurations are rendered from
deploy/*.template, the files production uses, into a temporary folder. Without them the benches
that need them print a SKIP line."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import string
import subprocess
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.bench import (
    BENCH_DATABASE,
    BENCH_LOAD_QUESTIONS,
    BENCH_REDIS_URL,
    BENCH_THREADS,
    BENCH_WORKER_CLASS,
    BENCH_WORKERS,
    LOAD_DUMP,
    LOAD_SETUP,
    REPO_ROOT,
    answers_checked,
    bench_database,
    celery_worker,
    child_pids,
    cpu_seconds,
    database_pids,
    free_port,
    gunicorn_server,
    machine_busy_seconds,
    manage,
    reference_cpu_ms,
    run_class,
    server_env,
)
from tests.loadgen import percentile

DEPLOY = REPO_ROOT / "deploy"
SCALE_TOOLS = ("haproxy", "pgbouncer")
WEB_INSTANCES = int(os.environ.get("BENCH_WEB_INSTANCES", "2"))
# PostgreSQL's connections behind PgBouncer: a little more than the web threads of both instances.
BENCH_POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "20"))
# gunicorn keeps HAProxy's idle connections longer than HAProxy keeps them (it purges idle ones after
# 5 s), so HAProxy never sends a request on a connection gunicorn is closing. As production should.
BEHIND_BALANCER = {"GUNICORN_CMD_ARGS": "--keep-alive 75"}

SCALE_STUDENTS = int(os.environ.get("BENCH_SCALE_STUDENTS", "1000"))
SCALE_THINK_SECONDS = float(os.environ.get("BENCH_SCALE_THINK_SECONDS", "10"))
# Every student starts within this window (and so finishes within one as long, an exam later).
SCALE_RAMP_SECONDS = float(os.environ.get("BENCH_SCALE_RAMP_SECONDS", "30"))
SCALE_P99_GOAL_MS = 500


def tool_path(name: str) -> str | None:
    """Debian puts both in /usr/sbin, which a user's PATH may lack."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")


def missing_tools() -> list[str]:
    return [name for name in SCALE_TOOLS if tool_path(name) is None]


def skip_line(name: str, missing: list[str]) -> str:
    return f"SKIP {name}: {' and '.join(missing)} not installed (`make scale-tools` installs Debian's packages)"


def render(template: str, folder: Path, **values: object) -> Path:
    """deploy/<template> with its ${NAME}s filled in (every one must be given), written to folder."""
    text = string.Template((DEPLOY / template).read_text(encoding="utf-8")).substitute(values)
    path = folder / template.removesuffix(".template")
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    return path


def raise_open_files(needed: int) -> None:
    """Each student holds a connection: lift this process's soft file limit towards what it needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < needed:
        raise SystemExit(f"open files are limited to {soft} (hard {hard}); {needed} are needed: raise `ulimit -n`")


@contextmanager
def daemon(command: list[str], log: Path, name: str, *, env: dict[str, str] | None = None):
    """A server process in the foreground, its output in log; stopped with SIGTERM afterwards."""
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.3)
        if process.poll() is not None:
            raise SystemExit(f"{name} exited at start:\n{log.read_text()[-3000:]}")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_answering(check, what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def pgbouncer_config(database_url: str, folder: Path, port: int) -> Path:
    """deploy/pgbouncer.ini.template for the bench: loopback, trust (the user names in userlist.txt)."""
    parts = urlsplit(database_url)
    user = parts.username or "postgres"
    (folder / "userlist.txt").write_text(f'"{user}" ""\n')
    (folder / "userlist.txt").chmod(0o644)
    return render(
        "pgbouncer.ini.template", folder, DATABASE_NAME=parts.path.lstrip("/"), POSTGRES_HOST=parts.hostname,
        POSTGRES_PORT=parts.port or 5432, LISTEN_ADDR="127.0.0.1", LISTEN_PORT=port, AUTH_TYPE="trust",
        AUTH_FILE=folder / "userlist.txt", ADMIN_USERS=user, MAX_CLIENT_CONN=2000, POOL_SIZE=BENCH_POOL_SIZE,
        LOG_FILE="", PID_FILE="",
    )  # fmt: skip


@contextmanager
def pgbouncer(database_url: str, folder: Path):
    """PgBouncer in transaction mode before the bench database; yields (its URL, its port, its pid)."""
    import psycopg

    port = free_port()
    command = [tool_path("pgbouncer"), str(pgbouncer_config(database_url, folder, port))]
    if os.geteuid() == 0:  # it refuses to run as root: it drops to another user, who must read the folder
        folder.chmod(0o755)
        command += ["-u", "postgres" if _user_exists("postgres") else "nobody"]
    log = REPO_ROOT / "var" / "bench-pgbouncer.log"
    parts = urlsplit(database_url)
    url = f"postgres://{parts.username or 'postgres'}@127.0.0.1:{port}{parts.path}"
    with daemon(command, log, "PgBouncer") as process:
        wait_answering(lambda: psycopg.connect(url, connect_timeout=2).close() or True, "PgBouncer", log)
        yield url, port, process.pid


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def pooler_stats(port: int, user: str = "postgres") -> dict[str, int]:
    """PgBouncer's totals for the bench database (SHOW STATS on its admin console, simple protocol)."""
    import psycopg

    admin = f"postgres://{user}@127.0.0.1:{port}/pgbouncer"
    with psycopg.connect(admin, autocommit=True, cursor_factory=psycopg.ClientCursor) as connection:
        cursor = connection.execute("SHOW STATS")
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    found = next(row for row in rows if row["database"].startswith(BENCH_DATABASE))
    return {key: int(found[key]) for key in ("total_xact_count", "total_query_count", "total_wait_time")}


def haproxy_config(folder: Path, port: int, web_ports: list[int]) -> Path:
    """deploy/haproxy.cfg.template for the bench: loopback, plain http, its log on standard output."""
    servers = "\n".join(f"    server web{index} 127.0.0.1:{web}" for index, web in enumerate(web_ports, start=1))
    return render(
        "haproxy.cfg.template", folder, MAXCONN=4096, LOG_TARGET="stdout format raw", BIND=f"127.0.0.1:{port}",
        FORWARDED_PROTO="http", SITE_HOST="127.0.0.1", SERVER_MAXCONN=BENCH_WORKERS * BENCH_THREADS,
        SERVERS=servers,
    )  # fmt: skip


@contextmanager
def haproxy(web_ports: list[int], folder: Path):
    """HAProxy on a free loopback port before the web instances; yields (its port, its pid, its log)."""
    port = free_port()
    config = haproxy_config(folder, port, web_ports)
    log = REPO_ROOT / "var" / "bench-haproxy.log"
    with daemon([tool_path("haproxy"), "-f", str(config), "-db"], log, "HAProxy") as process:

        def up() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as answer:
                return answer.status == 200

        wait_answering(up, "HAProxy", log)
        yield port, process.pid, log


def balancer_timings(log: Path) -> dict[str, list[float]]:
    """Each request's queue wait and server time (ms) from HAProxy's log (deploy/haproxy.cfg.template's
    log-format: %Tw %Tc %Tr %Ta %ST); the health checks are not logged."""
    waits, servers = [], []
    for line in log.read_text(errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 5 and all(re.fullmatch(r"-?\d+", value) for value in fields):
            waits.append(max(0.0, float(fields[0])))
            servers.append(max(0.0, float(fields[2])))
    return {"queue": waits, "server": servers}


@dataclass
class Shape:
    """Where the load goes (port) and which processes do the work, by role."""

    port: int
    roles: dict[str, list[int]]
    database_url: str
    balancer_log: Path | None = None
    pooler_port: int | None = None

    def pids(self) -> dict[str, list[int]]:
        found = {role: list(pids) for role, pids in self.roles.items()}
        found["web"] = [pid for master in self.roles["web"] for pid in (master, *child_pids(master))]
        found["db"] = database_pids(self.database_url)
        return found


@contextmanager
def exam_servers(database_url: str, env: dict[str, str], *, proxied: bool):
    """The one-server shape (a gunicorn on PostgreSQL) or the production one (WEB_INSTANCES gunicorns
    behind HAProxy, PgBouncer before PostgreSQL), each with a Celery worker; yields a Shape."""
    worker_log = REPO_ROOT / "var" / "bench-worker.log"
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-")))
        served_url, roles, extra = database_url, {}, {}
        if proxied:
            served_url, pooler_port, pooler_pid = stack.enter_context(pgbouncer(database_url, folder))
            env = {**env, **BEHIND_BALANCER, "DATABASE_POOLER": "pgbouncer"}
            roles["pooler"], extra["pooler_port"] = [pooler_pid], pooler_port
        worker_env = {**server_env(served_url), **env, "INFERENCE_RETRIES": "0", "LOG_LEVEL": "INFO"}
        worker = stack.enter_context(celery_worker(worker_env, worker_log))
        roles["worker"] = [worker.pid]
        ports, masters = [], []
        for index in range(WEB_INSTANCES if proxied else 1):
            log = REPO_ROOT / "var" / f"bench-gunicorn{'-' + str(index + 1) if proxied else ''}.log"
            port, master = stack.enter_context(gunicorn_server(served_url, log, env=env))
            ports.append(port)
            masters.append(master)
        roles["web"] = masters
        balancer_log = None
        if proxied:
            port, balancer_pid, balancer_log = stack.enter_context(haproxy(ports, folder))
            roles["balancer"] = [balancer_pid]
        yield Shape(
            port=ports[0] if not proxied else port,
            roles=roles,
            database_url=database_url,
            balancer_log=balancer_log,
            pooler_port=extra.get("pooler_port"),
        )


def cpu_by_role(shape: Shape, run):
    """Run the load; returns its result and the cores each role used meanwhile (processes that came up
    during the run, such as database backends, count from zero), plus the rest of the machine."""
    before_pids = shape.pids()
    before = {pid: cpu_seconds([pid]) for pids in before_pids.values() for pid in pids}
    busy = machine_busy_seconds()
    client = time.process_time()
    out, elapsed = run()
    client = (time.process_time() - client) / elapsed
    machine = (machine_busy_seconds() - busy) / elapsed
    after_pids = shape.pids()
    cores = {
        role: sum(cpu_seconds([pid]) - before.get(pid, 0.0) for pid in pids) / elapsed
        for role, pids in after_pids.items()
    }
    cores["client"] = client
    cores["other"] = max(0.0, machine - sum(cores.values()))
    return (out, elapsed), cores


def grade_tasks_received(worker_log: Path, finished: int, timeout: float = 30) -> int:
    """The grading tasks the worker received (it cannot grade: no model server), waiting a little for
    one per finished attempt."""
    deadline = time.monotonic() + timeout
    while True:
        found = set(re.findall(r"Task inference\.grade_answer\[([0-9a-f-]+)\] received", worker_log.read_text()))
        if len(found) >= finished or time.monotonic() > deadline:
            return len(found)
        time.sleep(1)


def exam_day(*, students: int, think: float, seconds: float | None, ramp: float | None, proxied: bool) -> dict:
    """A class taking an exam at once through the API: start → answer every question → submit, with
    think time; for `seconds` (again and again), or once each when seconds is None. Then every
    acknowledged save must be stored exactly once and every acknowledged submission finished.
    Returns the measures (exam_measures)."""
    import redis

    raise_open_files(students + 512)
    broker = redis.Redis.from_url(BENCH_REDIS_URL)
    broker.flushdb()
    closed = f"http://127.0.0.1:{free_port()}"  # no model server: grading waits, pending, as it would
    env = {"CELERY_BROKER_URL": BENCH_REDIS_URL, "MODEL_TASKS_ON_EVENTS": "true", "INFERENCE_URLS": closed}
    if proxied:  # several web processes share the throttles' counts, as production's web hosts do
        env["CACHE_URL"] = BENCH_REDIS_URL
    once = seconds is None
    # one exam: a start, a save per question and the submission, a think time apart, after the ramp
    window = (ramp or think) + think * (BENCH_LOAD_QUESTIONS + 2) + 60 if once else seconds
    try:
        with bench_database(f"{BENCH_DATABASE}_load") as database_url:
            manage(database_url, "migrate", "--noinput")
            manage(database_url, "import_questions", "fixtures/demo_bank.json")
            script = f"PARAMS = {{'students': {students}, 'questions': {BENCH_LOAD_QUESTIONS}}}\n"
            made = json.loads(manage(database_url, "shell", "-c", script + LOAD_SETUP).strip().splitlines()[-1])
            with exam_servers(database_url, env, proxied=proxied) as shape:
                stats_before = pooler_stats(shape.pooler_port) if proxied else None
                (out, elapsed), cores = cpu_by_role(
                    shape,
                    lambda: run_class(
                        shape.port, paper=made["paper"], tokens=made["tokens"], seconds=window, think=think,
                        ramp=ramp, attempts=1 if once else None,
                    ),
                )  # fmt: skip
                stats = pooler_stats(shape.pooler_port) if proxied else None
                finished = {tag for kind, tag, status, _ in out if kind == "finish" and status == 200}
                received = grade_tasks_received(REPO_ROOT / "var" / "bench-worker.log", len(finished))
            dump = json.loads(manage(database_url, "shell", "-c", LOAD_DUMP).strip().splitlines()[-1])
    finally:
        broker.flushdb()
    measures = exam_measures(out, elapsed, dump, finished)
    measures.update(grade_tasks=received, cores=cores, cpu_ref_ms=reference_cpu_ms())
    if proxied:
        timings = balancer_timings(shape.balancer_log)
        measures["balancer"] = timings
        pooled = {key: stats[key] - stats_before[key] for key in stats}
        measures["pooler"] = pooled
    return measures


def exam_measures(out: list, elapsed: float, dump: dict, finished: set) -> dict:
    sent = [tag for kind, tag, _, _ in out if kind == "save"]
    acks = [tag for kind, tag, status, _ in out if kind == "save" and status == 200]
    lost, duplicated = answers_checked(sent, acks, dump["rows"])
    states = {int(pk): state for pk, state in dump["sessions"].items()}
    unfinished = sum(states.get(session) != "finished" for session in finished)
    refused: dict[str, int] = {}  # kind:status of each error (status 0: the connection failed)
    for kind, _, status, _ in out:
        if not 200 <= status < 300:
            refused[f"{kind}:{status}"] = refused.get(f"{kind}:{status}", 0) + 1
    latencies = [latency for *_, latency in out]
    by_kind = {
        kind: percentile([latency for done, *_, latency in out if done == kind], 99) * 1000
        for kind in ("start", "save", "finish")
        if any(done == kind for done, *_ in out)
    }
    return {
        "p99_by_kind": by_kind,
        "lost": lost,
        "duplicated": duplicated,
        "unfinished": unfinished,
        "errors": sum(refused.values()),
        "refused": ",".join(f"{key}x{n}" for key, n in sorted(refused.items())) or "-",
        "requests": len(out),
        "acked": len(acks),
        "finished": len(finished) - unfinished,
        "elapsed": elapsed,
        "rps": len(out) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def where_time_goes(measures: dict) -> str:
    """The cores each role used, and for the proxied shape HAProxy's queue wait and the servers' time
    (p50/p99, ms) and PgBouncer's transactions, queries and wait for a server connection per request."""
    cores = measures["cores"]
    text = " ".join(f"{kind}_p99_ms={value:.0f}" for kind, value in measures.get("p99_by_kind", {}).items())
    text += " " + " ".join(f"{role}_cpu={value:.2f}" for role, value in sorted(cores.items()))
    # CPU per request and the machine's speed: what to compare when the same code gives another p99
    per_request = cores.get("web", 0.0) * measures["elapsed"] * 1000 / max(1, measures["requests"])
    text += f" web_ms_per_request={per_request:.2f} cpu_ref_ms={measures['cpu_ref_ms']:.1f}"
    if "balancer" in measures:
        queue, server = measures["balancer"]["queue"], measures["balancer"]["server"]
        pooled, requests = measures["pooler"], max(1, measures["requests"])
        text += (
            f" lb_queue_p50_ms={percentile(queue, 50):.0f} lb_queue_p99_ms={percentile(queue, 99):.0f}"
            f" lb_server_p50_ms={percentile(server, 50):.0f} lb_server_p99_ms={percentile(server, 99):.0f}"
            f" db_xacts_per_request={pooled['total_xact_count'] / requests:.1f}"
            f" db_queries_per_request={pooled['total_query_count'] / requests:.1f}"
            f" pool_wait_ms_per_request={pooled['total_wait_time'] / 1000 / requests:.2f}"
        )
    return text


def shape_text(proxied: bool) -> str:
    one = f"{BENCH_WORKER_CLASS}x{BENCH_WORKERS}x{BENCH_THREADS}"
    if not proxied:
        return f"shape=gunicorn server={one}"
    return f"shape=haproxy+pgbouncer web={WEB_INSTANCES}x{one} pool={BENCH_POOL_SIZE}"


# The p99 a class must see (issue: exam day without a stutter), on this machine, in load_200_students.
CLASS_P99_GOAL_MS = float(os.environ.get("BENCH_CLASS_P99_GOAL_MS", "250"))


def class_line(name: str, measures: dict, *, students: int, seconds: float, think: float, proxied: bool) -> str:
    """load_200_students' line, for either shape: ratio = the p99 goal over the p99 (1 or more meets
    it), 0 when any save was lost or duplicated, any request failed or any acknowledged submission is
    not finished; `wrong=` is the share of requests that went wrong."""
    m = measures
    bad = m["lost"] + m["duplicated"] + m["unfinished"] + m["errors"]
    ratio = CLASS_P99_GOAL_MS / max(m["p99_ms"], 1e-9) if bad == 0 else 0.0
    return (
        f"BENCH {name} ratio={ratio:.2f} goal=1.0 p99_goal_ms={CLASS_P99_GOAL_MS:g} "
        f"wrong={bad / max(1, m['requests']):.4f} lost={m['lost']} "
        f"duplicated={m['duplicated']} rps={m['rps']:.0f} p50_ms={m['p50_ms']:.1f} p99_ms={m['p99_ms']:.1f} "
        f"errors={m['errors']} requests={m['requests']} acked={m['acked']} students={students} "
        f"seconds={seconds:g} think_s={think:g} sessions_finished={m['finished']} unfinished={m['unfinished']} "
        f"grade_tasks={m['grade_tasks']} refused={m['refused']} {shape_text(proxied)} cores={os.cpu_count()} "
        f"{where_time_goes(m)}"
    )


def bench_load_200_students_proxy(students: int, seconds: float, think: float):
    """load_200_students through HAProxy (two gunicorns) and PgBouncer, for the two shapes side by side."""
    name = "load_200_students_proxy"
    if missing := missing_tools():
        yield skip_line(name, missing)
        return
    measures = exam_day(students=students, think=think, seconds=seconds, ramp=None, proxied=True)
    yield class_line(name, measures, students=students, seconds=seconds, think=think, proxied=True)


def bench_load_1000_students():
    """1,000 students, one exam each: they start over SCALE_RAMP_SECONDS, save an answer every
    SCALE_THINK_SECONDS and submit, through HAProxy and PgBouncer. ratio = the p99 goal over the p99
    (1 or more meets it), 0 when any save was lost or duplicated, any request failed or any
    acknowledged submission is not finished."""
    name = "load_1000_students"
    if missing := missing_tools():
        yield skip_line(name, missing)
        return
    students, think, ramp = SCALE_STUDENTS, SCALE_THINK_SECONDS, SCALE_RAMP_SECONDS
    m = exam_day(students=students, think=think, seconds=None, ramp=ramp, proxied=True)
    valid = m["lost"] == m["duplicated"] == m["errors"] == m["unfinished"] == 0
    ratio = SCALE_P99_GOAL_MS / m["p99_ms"] if valid else 0.0
    yield (
        f"BENCH {name} ratio={ratio:.2f} goal=1.0 valid={str(valid).lower()} lost={m['lost']} "
        f"duplicated={m['duplicated']} errors={m['errors']} unfinished={m['unfinished']} rps={m['rps']:.0f} "
        f"p50_ms={m['p50_ms']:.1f} p99_ms={m['p99_ms']:.1f} p99_goal_ms={SCALE_P99_GOAL_MS} "
        f"requests={m['requests']} acked={m['acked']} students={students} sessions_finished={m['finished']} "
        f"think_s={think:g} ramp_s={ramp:g} elapsed_s={m['elapsed']:.0f} grade_tasks={m['grade_tasks']} "
        f"refused={m['refused']} {shape_text(True)} cores={os.cpu_count()} {where_time_goes(m)}"
    )
