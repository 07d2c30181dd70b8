"""Who may do what, route by route: the authorisation matrix.

Every route of the URL conf (walked recursively) and every path of the OpenAPI schema is tried with
every method (GET, POST, PUT, PATCH, DELETE) by seven personas:

    anonymous  nobody signed in
    alice      a student, who owns the attempt, the answers and the practice answer the paths name
    bob        another student
    erin       another teacher: carol's papers and classes are not hers (nothing is shared with
               her), so she is refused them; the school's bank (no owner) is every teacher's
    carol      the teacher who wrote the paper, owns the class and started the import
    dave       an admin (the "admin" group): what teachers may, and model tuning; not the admin site
    root       a superuser: all of it, the admin site (staff) included

against ACCESS, the table below: route name → method → who may. A route missing from the table fails
its test, so a new route has to be classified; an entry no route has any more fails too. A persona who
may not must be refused (401, 403, 404, 405, or a redirect to a login page); a persona who may must not
be (a 400 or a 409 for a body the state does not allow is fine: the door was open). A 5xx fails always.
Each request runs in a savepoint rolled back after it, so one persona's write does not change what the
next one meets. Objects: another student's attempt, answers, review, grades, wrong-answer book,
practice answers and explanation stream are refused (404 or 403) and never show alice's answer text.
Every HTML form rejects a POST without its CSRF token, and so does the API with session authentication.
No student route checks or explains any version (an edit made mid-exam included) of a question on an
open exam, practice papers included. The model server's port is a door of its own: no persona's
session or API token opens any of its routes; only the server's key does.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client, override_settings
from django.urls import resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone

from quizbank.models import ImportJob, Paper, PaperMode, QuestionType, ReviewWhen, SchoolClass, WrongBookEntry
from quizbank.services import (
    answer_submit,
    paper_create,
    question_create,
    session_answer_save,
    session_finish,
    session_start,
    wrong_book_practice_create,
)
from quizbank.services.classes import class_create, class_join, paper_assign, paper_share
from quizbank.services.images import question_image_create
from tests.routes import BRACED_PARAMETER, Route, schema_paths, urlconf_routes
from tests.security.test_model_server_auth import KEY, Upstream, public_port  # noqa: F401  (a fixture)
from tuning.models import ModelVersion, RunStatus, TuningRun

METHODS = ("get", "post", "put", "patch", "delete")
ANON, ALICE, BOB, ERIN, CAROL, DAVE, ROOT = "anonymous", "alice", "bob", "erin", "carol", "dave", "root"
ROLES = (ANON, ALICE, BOB, ERIN, CAROL, DAVE, ROOT)
EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {ANON}
OWNER = frozenset({ALICE})  # the student whose attempt or answer the path names
TEACHERS = frozenset({ERIN, CAROL, DAVE, ROOT})  # teachers and admins; erin did not write the paper
AUTHOR = frozenset({CAROL, DAVE, ROOT})  # carol's paper and class: hers and the admins' (erin has no share)
ADMINS = frozenset({DAVE, ROOT})
NOBODY = frozenset()

ALICES_TEXT = "爱丽丝写的独有答案文本"  # in alice's answers: no one but her and the teachers may see it


def every_method(roles) -> dict[str, frozenset]:
    """A plain view that answers whatever the method (a page rendered as for GET, a redirect)."""
    return dict.fromkeys(METHODS, frozenset(roles))


@dataclass(frozen=True)
class Access:
    methods: dict[str, frozenset]
    # For those who may: the parameters to fill and the body to send, by method.
    params: dict[str, str] = field(default_factory=dict)
    body: dict[str, dict] = field(default_factory=dict)
    redirect_to_login_is_fine: bool = False  # logging out lands on the login page


def access(methods: dict[str, frozenset], **kwargs) -> Access:
    return Access(methods={method: frozenset(roles) for method, roles in methods.items()}, **kwargs)


QUESTION_BODY = {
    "subject": "测试/新题",
    "type": QuestionType.SINGLE_CHOICE,
    "stem": "新的一题",
    "options": [{"key": "A", "text": "是"}, {"key": "B", "text": "否"}],
    "answer": "A",
}
PRACTICE_ANSWER = {"answer_id": "practice_answer"}
TINY_PNG = bytes.fromhex(  # one red pixel
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)

# route name (the URL conf's name, or the path template where it has none) → method → who may.
ACCESS: dict[str, Access] = {
    # --- the site
    "/": access(every_method(EVERYONE)),  # a redirect to the exams
    "healthz": access(every_method(EVERYONE)),
    "livez": access(every_method(EVERYONE)),
    "login": access({"get": EVERYONE, "post": EVERYONE, "put": EVERYONE}),  # FormView: PUT is POST
    "logout": access({"post": EVERYONE}, redirect_to_login_is_fine=True),
    "api-schema": access({"get": EVERYONE}),
    "set_language": access(every_method(EVERYONE), body={"post": {"language": "en", "next": "/exams/"}}),
    # --- exams: the API
    "api-v1-auth-token": access({"post": EVERYONE}),
    "api-v1-papers": access(
        {"get": SIGNED_IN, "post": TEACHERS}, body={"post": {"title": "新卷", "question_ids": ["exam_question"]}}
    ),
    "api-v1-paper": access({"get": SIGNED_IN - {ERIN}, "patch": AUTHOR}, body={"patch": {"description": "改过的说明"}}),
    "api-v1-paper-sessions": access({"post": SIGNED_IN}),
    "api-v1-paper-results": access({"get": AUTHOR}),
    "api-v1-paper-statistics": access({"get": AUTHOR}),
    "api-v1-sessions": access({"get": SIGNED_IN}),
    "api-v1-session": access({"get": OWNER}),
    "api-v1-session-answer": access({"put": OWNER}, body={"put": {"response": "B"}}),
    "api-v1-session-answers": access({"put": OWNER}, body={"put": {"answers": [{"position": 1, "response": "B"}]}}),
    "api-v1-session-advance": access({"post": OWNER}),
    "api-v1-session-finish": access({"post": OWNER}),
    "api-v1-session-review": access({"get": OWNER}),
    "api-v1-grading": access({"get": TEACHERS}),
    "api-v1-answer-grade": access({"post": AUTHOR}, body={"post": {"score": "1", "feedback": "好"}}),
    "api-v1-wrong-book": access({"get": SIGNED_IN}),
    "api-v1-wrong-book-practice": access({"post": SIGNED_IN}),
    # --- exams: the pages (the read-only ones render whatever the method)
    "exam-index": access(every_method(SIGNED_IN)),
    "exam-paper": access(every_method(SIGNED_IN)),
    "exam-start": access({"post": SIGNED_IN}),
    "session-take": access(every_method(OWNER)),
    "session-finish": access({"post": OWNER}),
    "session-review": access(every_method(OWNER)),
    "wrong-book": access(every_method(SIGNED_IN)),
    "wrong-book-practice": access({"post": SIGNED_IN}),
    # --- teachers' pages
    "teacher-papers": access({"get": TEACHERS}),
    "teacher-paper-new": access({"get": TEACHERS, "post": TEACHERS}),
    "teacher-paper": access({"get": AUTHOR, "post": AUTHOR}),
    "teacher-paper-csv": access({"get": AUTHOR}),
    "teacher-paper-xlsx": access({"get": AUTHOR}),
    "teacher-paper-statistics": access({"get": AUTHOR}),
    "teacher-paper-assign": access({"post": AUTHOR}, body={"post": {"school_class": "class_id"}}),
    "teacher-paper-unassign": access({"post": AUTHOR}),
    "teacher-paper-share": access({"post": AUTHOR}, body={"post": {"teacher": "erin", "level": "view"}}),
    "teacher-grading": access({"get": TEACHERS}),
    "teacher-answer": access({"get": AUTHOR}),
    "teacher-answer-grade": access({"post": AUTHOR}, body={"post": {"score": "1", "feedback": "好"}}),
    # --- classes: the class is carol's; any teacher makes one; a student joins with a code
    "teacher-classes": access({"get": TEACHERS, "post": TEACHERS}, body={"post": {"name": "新班级"}}),
    "teacher-class": access({"get": AUTHOR, "post": AUTHOR}),
    "teacher-class-credentials": access({"get": AUTHOR}),
    "teacher-class-remove": access({"post": AUTHOR}, params={"user_id": "bobs_id"}),
    "class-join": access({"get": SIGNED_IN, "post": SIGNED_IN}, body={"post": {"code": "class_code"}}),
    "password-first": access({"get": SIGNED_IN, "post": SIGNED_IN}),
    # --- banks: the scene's bank is the school's (no owner): any teacher may make it theirs; only an
    # owner (none here) or an admin shares it
    "teacher-banks": access({"get": TEACHERS}),
    "teacher-bank-share": access(
        {"post": ADMINS}, params={"subject_id": "bank_id"}, body={"post": {"teacher": "erin", "level": "view"}}
    ),
    "teacher-bank-claim": access({"post": TEACHERS}, params={"subject_id": "bank_id"}),
    # --- the bank
    "api-v1-questions": access({"get": TEACHERS, "post": TEACHERS}, body={"post": QUESTION_BODY}),
    # Teachers get every field; students what may be seen before answering (see the practice routes).
    "api-v1-question": access({"get": SIGNED_IN, "patch": TEACHERS}, body={"patch": {"stem": "改过的题干"}}),
    "api-v1-imports": access({"post": TEACHERS}),
    "api-v1-import-template": access({"get": TEACHERS}),
    "api-v1-import": access({"get": TEACHERS}),
    "bank-index": access(every_method(TEACHERS)),
    "bank-import": access(every_method(TEACHERS)),
    # without a kept upload (?upload=...), a teacher is sent back to the import page
    "bank-import-mapping": access({"get": TEACHERS, "post": TEACHERS}),
    "bank-import-status": access(every_method(TEACHERS)),
    "bank-export": access({"get": TEACHERS}),
    "bank-export-download": access({"get": TEACHERS}, params={"fmt": "export_format"}),
    "question-editor-new": access({"get": TEACHERS, "post": TEACHERS}),
    "question-editor": access({"get": TEACHERS, "post": TEACHERS}),
    "question-preview": access({"post": TEACHERS}, body={"post": {"text": "**题干** $x$", "format": "markdown"}}),
    "question-image-upload": access({"post": TEACHERS}),
    # Images in question text: anyone signed in (a student sees them in the papers she takes).
    "question-image": access({"get": SIGNED_IN}, params={"name": "image_name"}),
    # --- practice and the model's explanations
    "practice-index": access(every_method(SIGNED_IN)),
    "practice-question": access({"get": SIGNED_IN, "post": SIGNED_IN}, body={"post": {"response": "A"}}),
    "practice-answer": access(every_method(OWNER), params=PRACTICE_ANSWER),
    "api-v1-question-answers": access({"post": SIGNED_IN}, body={"post": {"response": "A"}}),
    "api-v1-answer": access({"get": OWNER}, params=PRACTICE_ANSWER),
    "api-v1-answer-explain-stream": access({"get": OWNER}, params=PRACTICE_ANSWER),
    # --- tuning: admins only
    "api-v1-tuning-runs": access({"get": ADMINS, "post": ADMINS}, body={"post": {"method": "lora"}}),
    "api-v1-tuning-run": access({"get": ADMINS}),
    "api-v1-tuning-run-events": access({"get": ADMINS}),
    "api-v1-tuning-run-checkpoints": access({"get": ADMINS}),
    "api-v1-tuning-run-cancel": access({"post": ADMINS}),
    "api-v1-tuning-run-resume": access({"post": ADMINS}),
    "api-v1-tuning-version-promote": access({"post": ADMINS}),
    "v1-fine-tuning-jobs": access(
        {"get": ADMINS, "post": ADMINS}, body={"post": {"model": "base", "training_file": "bank:all"}}
    ),
    "v1-fine-tuning-job": access({"get": ADMINS}),
    "v1-fine-tuning-job-events": access({"get": ADMINS}),
    "v1-fine-tuning-job-checkpoints": access({"get": ADMINS}),
    "v1-fine-tuning-job-cancel": access({"post": ADMINS}),
    "v1-fine-tuning-job-resume": access({"post": ADMINS}),
    "tuning-index": access(every_method(ADMINS)),
    "tuning-estimate": access({"get": ADMINS}),
    "tuning-run": access(every_method(ADMINS)),
    "tuning-run-action": access({"post": ADMINS}),
    "tuning-promote": access({"post": ADMINS}),
    "models-report": access({"get": ADMINS}),
    "models-report-csv": access({"get": ADMINS}),
    # --- the admin site: its own login page, and everything else behind its staff gate
    "admin:login": access({"get": EVERYONE, "post": EVERYONE, "put": EVERYONE}),
}
# Every other route of the admin site: refused to all but staff. What the superuser gets from a page
# filled with arbitrary ids (a form, a 404, a 403 from the autocomplete without its parameters) is not
# judged, beyond that it does not crash.
ADMIN_SITE = "admin:*"


# --- the routes -------------------------------------------------------------------------------------

URLCONF_ROUTES = urlconf_routes()
SCHEMA_PATHS, SCHEMA_ERROR = schema_paths()


def route_key(route: Route) -> str:
    if not route.url_name:
        return route.template
    return f"{route.namespace}:{route.url_name}" if route.namespace else route.url_name


def _access_of(route: Route) -> Access | None:
    key = route_key(route)
    if key in ACCESS:
        return ACCESS[key]
    if route.namespace == "admin":
        return None  # the staff gate, see ADMIN_SITE
    raise KeyError(key)


ROUTES = sorted(URLCONF_ROUTES, key=lambda route: route.template)


# --- the scene --------------------------------------------------------------------------------------


@dataclass
class Scene:
    clients: dict[str, Client]
    cookies: dict[str, str]
    users: dict[str, object]
    ids: dict[str, str]
    media_root: str = ""  # where the scene's question image is stored


def _build_scene() -> Scene:
    users = get_user_model().objects
    alice, bob = (users.create_user(name, password=f"{name}-pass-123") for name in (ALICE, BOB))
    student = Group.objects.get_or_create(name="student")[0]
    teacher = Group.objects.get_or_create(name="teacher")[0]
    alice.groups.add(student)
    bob.groups.add(student)
    erin, carol = (users.create_user(name, password=f"{name}-pass-123") for name in (ERIN, CAROL))
    erin.groups.add(teacher)
    carol.groups.add(teacher)
    dave = users.create_user(DAVE, password="dave-pass-123")
    dave.groups.add(Group.objects.get_or_create(name="admin")[0])
    root = users.create_superuser(ROOT, email="root@example.com", password="root-pass-123")

    def create(qtype, stem, **data):
        return question_create(data={"subject": "测试/权限", "qtype": qtype, "stem": stem, **data})

    choice = create(
        QuestionType.SINGLE_CHOICE,
        "考试单选",
        options=[{"key": "A", "text": "甲"}, {"key": "B", "text": "乙"}],
        answer="A",
        explanation="考试解析",
    )
    short = create(QuestionType.SHORT_ANSWER, "考试简答", answer="参考答案", explanation="简答解析")
    drill = create(
        QuestionType.SINGLE_CHOICE,
        "练习单选",
        options=[{"key": "A", "text": "是"}, {"key": "B", "text": "否"}],
        answer="A",
        explanation="练习解析",
    )
    immediately = {
        f"review_{what}": ReviewWhen.IMMEDIATELY for what in ("score", "correctness", "answer", "explanation")
    }
    exam = paper_create(
        title="权限考试",
        questions=[choice, short],
        created_by=carol,
        close_at=timezone.now() + timedelta(days=1),
        attempts_allowed=0,
        **immediately,
    )
    paper_create(title="练习卷", questions=[drill], created_by=carol, mode=PaperMode.PRACTICE, attempts_allowed=0)

    for student_user, text in ((alice, ALICES_TEXT), (bob, "鲍勃的答案")):
        attempt = session_start(user=student_user, paper=exam)
        session_answer_save(user=student_user, session_id=attempt.pk, position=1, response="B")
        session_answer_save(user=student_user, session_id=attempt.pk, position=2, response=text)
        session_finish(user=student_user, session_id=attempt.pk)
        if student_user == alice:
            alices_session = attempt
    exam_answer = alices_session.answers.get(question=short)
    practice_answer = answer_submit(user=alice, question=drill, response="B")  # wrong: it may be explained
    practice_answer.response = f"B {ALICES_TEXT}"
    practice_answer.save(update_fields=["response"])
    answer_submit(user=bob, question=drill, response="B")
    now = timezone.now()
    WrongBookEntry.objects.update_or_create(
        user=alice,
        question=drill,
        defaults={"times_wrong": 1, "first_wrong_at": now, "last_wrong_at": now, "last_response": ALICES_TEXT},
    )
    alices_own_paper = wrong_book_practice_create(user=alice)  # a personal practice paper: hers alone
    draft = paper_create(title="草稿试卷", questions=[choice], created_by=carol, published=False)

    image = question_image_create(data=TINY_PNG, name="图.png", uploaded_by=carol)
    school_class = class_create(name="权限班", owner=carol)
    class_join(user=bob, code=school_class.code)
    job = ImportJob.objects.create(file_path="/nonexistent/bank.json", file_name="bank.json", created_by=carol)
    base = ModelVersion.objects.create(name="base", path="/nonexistent/base", method="bootstrap", is_active=True)
    candidate = ModelVersion.objects.create(name="candidate", path="/nonexistent/candidate", method="lora")
    run = TuningRun.objects.create(
        status=RunStatus.FAILED,
        method="lora",
        base_version=base,
        output_version=candidate,
        config={},
        dataset_path="/nonexistent/dataset.jsonl",
        dataset_size=1,
        error="stopped",
    )

    people = {ALICE: alice, BOB: bob, ERIN: erin, CAROL: carol, DAVE: dave, ROOT: root}
    clients = {ANON: Client(raise_request_exception=False)}
    cookies = {}
    for name, user in people.items():
        client = Client(raise_request_exception=False)
        client.force_login(user)
        clients[name] = client
        cookies[name] = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    ids = {
        "paper_id": str(exam.pk),
        "alices_own_paper": str(alices_own_paper.pk),
        "draft_paper": str(draft.pk),
        "session_id": str(alices_session.pk),
        "position": "1",
        "answer_id": str(exam_answer.pk),
        "practice_answer": str(practice_answer.pk),
        "question_id": str(drill.pk),
        "exam_question": exam.items.first().question_id,
        "job_id": str(job.pk),
        "class_id": str(school_class.pk),
        "class_code": school_class.code,
        "bobs_id": str(bob.pk),
        "bank_id": str(choice.subject.parent_id),
        "export_format": "gift",
        "image_name": image.file.name.rsplit("/", 1)[-1],
        "run_id": str(run.pk),
        "name": candidate.name,
        "action": "cancel",
        # the admin site's parameters: which page of which model does not matter to its gate
        "app_label": "quizbank",
        "object_id": str(choice.pk),
        "content_type_id": str(ContentType.objects.get_for_model(type(choice)).pk),
    }
    return Scene(
        clients=clients, cookies=cookies, users={ANON: None, **people}, ids=ids, media_root=django_settings.MEDIA_ROOT
    )


@pytest.fixture(scope="module")
def _scene(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once for the module, inside a transaction rolled back at its end; each test runs in a
    savepoint of it, and each request in a savepoint of its own."""
    fast = override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        MEDIA_ROOT=str(tmp_path_factory.mktemp("media")),
    )
    with django_db_blocker.unblock(), fast:
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _build_scene()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def scene(_scene, db, no_model_server, settings) -> Scene:
    settings.MEDIA_ROOT = _scene.media_root
    return _scene


# --- one request, judged ----------------------------------------------------------------------------


def fill(route: Route, scene: Scene, params: dict[str, str] | None = None) -> str:
    values = {}
    for name, _ in route.params:
        key = (params or {}).get(name, name)
        values[name] = scene.ids.get(key, "1")
    return route.template.format(**values)


def _body_of(value, scene: Scene):
    if isinstance(value, dict):
        return {key: _body_of(item, scene) for key, item in value.items()}
    if isinstance(value, list):
        return [_body_of(item, scene) for item in value]
    return scene.ids[value] if value in ("exam_question", "class_id", "class_code") else value


@dataclass(frozen=True)
class Result:
    status: int
    location: str
    text: str


def send(scene: Scene, role: str, method: str, path: str, body: dict | None = None) -> Result:
    """One request by one persona, undone after it (logging out included: the session is put back)."""
    client = scene.clients[role]
    if role != ANON:
        client.cookies[django_settings.SESSION_COOKIE_NAME] = scene.cookies[role]
    else:
        client.cookies.clear()
    api = path.startswith("/api/")
    kwargs: dict = {"follow": False}
    if method != "get" and body is not None:
        if api:
            kwargs |= {"data": json.dumps(body), "content_type": "application/json"}
        elif method == "post":
            kwargs["data"] = body
    with transaction.atomic():
        response = getattr(client, method)(path, **kwargs)
        if getattr(response, "streaming", False):
            raw = b"".join(itertools.islice(response.streaming_content, 200))
        else:
            raw = response.content
        transaction.set_rollback(True)
    return Result(response.status_code, response.get("Location", ""), raw.decode("utf-8", errors="replace"))


LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


def refused(result: Result, path: str = "") -> bool:
    if result.status in (401, 403, 404, 405):
        return True
    # The admin site's gate sends the logout of someone not staff to its index, which asks for a login.
    gates = (*LOGIN_PATHS, "/admin/") if path.startswith("/admin/") and path not in LOGIN_PATHS else LOGIN_PATHS
    return result.status in (301, 302) and urlsplit(result.location).path in gates


def judge(result: Result, *, may: bool, role: str, method: str, path: str, entry: Access | None) -> list[str]:
    said = f"{role} {method.upper()} {path} → {result.status}"
    if result.location:
        said += f" ({result.location})"
    if result.status >= 500:
        return [f"{said}: a server error"]
    problems = []
    if role in (ANON, BOB) and ALICES_TEXT in result.text:
        problems.append(f"{said}: shows alice's answer")
    if may is None:
        return problems
    if may and refused(result, path) and not (entry and entry.redirect_to_login_is_fine and result.status == 302):
        problems.append(f"{said}: refused, but the table lets {role} {method.upper()}")
    if not may and not refused(result, path):
        problems.append(f"{said}: not refused, but the table does not let {role} {method.upper()}")
    return problems


# --- the tests --------------------------------------------------------------------------------------


def _route_param(route: Route):
    return pytest.param(route, id=f"{route_key(route)} {route.template}")


APP_ROUTES = [route for route in ROUTES if route.namespace != "admin"]
ADMIN_ROUTES = [route for route in ROUTES if route.namespace == "admin"]


@pytest.mark.parametrize("route", [_route_param(route) for route in APP_ROUTES])
def test_each_persona_may_do_what_the_table_says_and_nothing_more(route, scene):
    entry = ACCESS.get(route_key(route))
    assert entry is not None, f"{route_key(route)} ({route.template}) is not in ACCESS: say who may use it"
    path = fill(route, scene, entry.params)
    problems = []
    for method in METHODS:
        allowed = entry.methods.get(method, NOBODY)
        body = _body_of(entry.body.get(method, {}), scene)
        for role in ROLES:
            result = send(scene, role, method, path, body)
            problems += judge(result, may=role in allowed, role=role, method=method, path=path, entry=entry)
    assert not problems, "\n".join(problems)


def test_the_admin_site_lets_in_staff_only(scene):
    """Every route of the admin site (one test: there are a hundred behind the same gate)."""
    problems = []
    checked = 0
    for route in ADMIN_ROUTES:
        entry = ACCESS.get(route_key(route))
        path = fill(route, scene)
        for method in METHODS:
            for role in ROLES:
                if entry is None and role == ROOT and method != "get":
                    continue  # the superuser's pages are the admin site's own: opening each is enough
                result = send(scene, role, method, path, {})
                checked += 1
                if entry is not None:
                    may = role in entry.methods.get(method, NOBODY)
                else:
                    may = None if role == ROOT else False  # the superuser's pages: only no crash
                problems += judge(result, may=may, role=role, method=method, path=path, entry=entry)
    assert len(ADMIN_ROUTES) > 20 and checked > len(ADMIN_ROUTES) * len(METHODS) * (len(ROLES) - 1)
    assert not problems, "\n".join(problems)


def test_the_table_names_only_routes_that_exist():
    keys = {route_key(route) for route in URLCONF_ROUTES}
    assert set(ACCESS) - keys == set(), "entries of ACCESS for routes that are gone"
    for entry in ACCESS.values():
        assert set(entry.methods) <= set(METHODS)


def test_every_schema_operation_is_in_the_table(scene):
    """The OpenAPI schema and the URL conf agree, and no operation the schema offers is one nobody may use."""
    assert SCHEMA_ERROR == "", f"the OpenAPI schema cannot be generated: {SCHEMA_ERROR}"
    assert SCHEMA_PATHS
    problems = []
    for path, methods in SCHEMA_PATHS.items():
        filled = BRACED_PARAMETER.sub("1", path)
        try:
            match = resolve(filled)
        except Resolver404:
            problems.append(f"{path} of the schema is no route")
            continue
        key = f"{match.namespace}:{match.url_name}" if match.namespace else (match.url_name or path)
        entry = ACCESS.get(key)
        if entry is None:
            problems.append(f"{path} ({key}) is not in ACCESS")
            continue
        for method in set(methods) & set(METHODS):
            if not entry.methods.get(method):
                problems.append(f"the schema offers {method.upper()} {path}, which the table lets nobody use")
    assert not problems, "\n".join(problems)


# --- objects: another student's things ---------------------------------------------------------------


def test_bob_gets_nothing_of_alices(scene):
    """alice's attempt, its answers, review and grade, her practice answer and its explanation: bob is
    refused each with 404 or 403, and no response of his lists them."""
    ids = scene.ids
    session, answer, practice = ids["session_id"], ids["answer_id"], ids["practice_answer"]
    tries = [
        ("get", f"/api/v1/sessions/{session}", None),
        ("put", f"/api/v1/sessions/{session}/answers/2", {"response": "改掉她的答案"}),
        ("post", f"/api/v1/sessions/{session}/advance", {}),
        ("post", f"/api/v1/sessions/{session}/finish", {}),
        ("get", f"/api/v1/sessions/{session}/review", None),
        ("get", f"/sessions/{session}/", None),
        ("post", f"/sessions/{session}/finish", {}),
        ("get", f"/sessions/{session}/review/", None),
        ("get", f"/api/v1/answers/{practice}", None),
        ("get", f"/practice/answers/{practice}/", None),
        ("get", f"/api/v1/answers/{practice}/explain/stream", None),
        ("get", f"/api/v1/answers/{answer}/explain/stream", None),
        ("get", f"/api/v1/answers/{answer}", None),
        ("get", f"/practice/answers/{answer}/", None),
        ("post", f"/api/v1/answers/{answer}/grade", {"score": "1"}),
        ("get", f"/teach/answers/{answer}/", None),
    ]
    problems = []
    for method, path, body in tries:
        result = send(scene, BOB, method, path, body)
        if result.status not in (403, 404):
            problems.append(f"bob {method.upper()} {path} → {result.status}")
        if ALICES_TEXT in result.text:
            problems.append(f"bob {method.upper()} {path} shows alice's answer")
    assert ALICES_TEXT in send(scene, ALICE, "get", "/api/v1/wrong-book").text  # her wrong-answer book
    for path in ("/api/v1/sessions", "/api/v1/wrong-book", "/wrong-book/", "/exams/", "/practice/", "/api/v1/papers"):
        result = send(scene, BOB, "get", path)
        if result.status != 200:
            problems.append(f"bob GET {path} → {result.status}")
        if ALICES_TEXT in result.text:
            problems.append(f"bob GET {path} shows alice's answer")
    listed = {entry["id"] for entry in json.loads(send(scene, BOB, "get", "/api/v1/sessions").text)}
    if int(session) in listed:
        problems.append("bob's list of attempts has alice's")
    assert not problems, "\n".join(problems)


def test_a_student_cannot_see_or_start_a_draft_or_another_students_own_paper(scene):
    """A paper not published is the teachers' alone; a personal practice paper (practise my wrong
    answers) is its owner's alone."""
    problems = []
    for role, paper in ((ALICE, "draft_paper"), (BOB, "draft_paper"), (BOB, "alices_own_paper")):
        pk = scene.ids[paper]
        for method, path in (
            ("get", f"/api/v1/papers/{pk}"),
            ("post", f"/api/v1/papers/{pk}/sessions"),
            ("get", f"/exams/{pk}/"),
            ("post", f"/exams/{pk}/start"),
        ):
            result = send(scene, role, method, path, {})
            if result.status != 404:
                problems.append(f"{role} {method.upper()} {path} ({paper}) → {result.status}")
    for path in ("/api/v1/papers", "/exams/", "/practice/"):
        text = send(scene, BOB, "get", path).text
        if "草稿试卷" in text or "错题练习" in text:
            problems.append(f"bob GET {path} lists the draft or alice's own paper")
    assert send(scene, ALICE, "get", f"/api/v1/papers/{scene.ids['alices_own_paper']}").status == 200
    assert send(scene, CAROL, "get", f"/api/v1/papers/{scene.ids['draft_paper']}").status == 200
    assert not problems, "\n".join(problems)


def test_alice_reaches_her_own(scene):
    """The refusals above are about bob, not about a broken scene: alice gets every one of them."""
    ids = scene.ids
    session, practice = ids["session_id"], ids["practice_answer"]
    for path in (
        f"/api/v1/sessions/{session}",
        f"/api/v1/sessions/{session}/review",
        f"/sessions/{session}/review/",
        f"/api/v1/answers/{practice}",
        f"/practice/answers/{practice}/",
        f"/api/v1/answers/{practice}/explain/stream",
    ):
        result = send(scene, ALICE, "get", path)
        assert result.status == 200, (path, result.status, result.text[:300])
    result = send(scene, CAROL, "get", f"/teach/answers/{ids['answer_id']}/")
    assert result.status == 200 and ALICES_TEXT in result.text


def test_no_student_practises_any_version_of_a_question_of_an_open_exam(scene):
    """An exam hiding its key until it closes; mid-exam carol edits its question (a new version) and puts
    that version on a practice paper. Every student route that would check or explain it refuses alice
    and bob alike (409, or the practice page sends them back); the teachers' bank API still shows it."""
    question = question_create(
        data={
            "subject": "测试/权限",
            "qtype": QuestionType.SINGLE_CHOICE,
            "stem": "锁定的考题",
            "options": [{"key": "A", "text": "甲"}, {"key": "B", "text": "乙"}],
            "answer": "B",
            "explanation": "锁定题的解析",
        }
    )
    paper_create(
        title="未结束的考试",
        questions=[question],
        created_by=scene.users[CAROL],
        close_at=timezone.now() + timedelta(hours=1),
    )
    edited = send(scene, CAROL, "patch", f"/api/v1/questions/{question.pk}", {"stem": "锁定的考题（修订）"})
    assert edited.status == 200
    # send() undoes each request: the edit is made again, for good, in this test's savepoint.
    from quizbank.services import question_update

    version = question_update(question=question, data={"stem": "锁定的考题（修订）"})
    practice = paper_create(title="含考题的练习", questions=[version], mode=PaperMode.PRACTICE, attempts_allowed=0)
    problems = []
    for role in (ALICE, BOB):
        attempt = session_start(user=scene.users[role], paper=practice)
        for method, path, body, expected in (
            ("get", f"/api/v1/questions/{version.pk}", None, {409}),
            ("post", f"/api/v1/questions/{version.pk}/answers", {"response": "A"}, {409}),
            ("get", f"/practice/questions/{version.pk}/", None, {302}),
            ("post", f"/practice/questions/{version.pk}/", {"response": "A"}, {302}),
            ("put", f"/api/v1/sessions/{attempt.pk}/answers/1", {"response": "A", "client_seq": 1}, {409}),
        ):
            result = send(scene, role, method, path, body)
            if result.status not in expected or "锁定题的解析" in result.text:
                problems.append(f"{role} {method.upper()} {path} → {result.status}: {result.text[:120]}")
    shown = send(scene, CAROL, "get", f"/api/v1/questions/{version.pk}")
    assert shown.status == 200 and "锁定题的解析" in shown.text
    assert not problems, "\n".join(problems)


def test_a_teacher_manages_another_teachers_paper_only_as_far_as_it_is_shared(scene):
    """A paper is its author's: erin is refused carol's paper until carol shares it, then may do
    what the share's level allows (view: read its results; edit: change it)."""
    paper = scene.ids["paper_id"]
    patch = ("patch", f"/api/v1/papers/{paper}", {"description": "erin 改的"})
    assert send(scene, ERIN, *patch).status == 403
    assert send(scene, ERIN, "get", f"/api/v1/papers/{paper}/results").status == 403
    with transaction.atomic():
        carol = scene.users[CAROL]
        paper_share(paper=Paper.objects.get(pk=paper), teacher=scene.users[ERIN], level="view", by=carol)
        assert send(scene, ERIN, "get", f"/api/v1/papers/{paper}/results").status == 200
        assert send(scene, ERIN, "get", f"/teach/papers/{paper}/results.csv").status == 200
        assert send(scene, ERIN, *patch).status == 403
        paper_share(paper=Paper.objects.get(pk=paper), teacher=scene.users[ERIN], level="edit", by=carol)
        assert send(scene, ERIN, *patch).status == 200
        transaction.set_rollback(True)


def test_a_student_outside_a_class_neither_sees_nor_starts_its_paper(scene):
    """Assigned to carol's class (bob is in it, alice is not), the paper is bob's to see and start only."""
    paper = scene.ids["paper_id"]
    with transaction.atomic():
        paper_assign(
            paper=Paper.objects.get(pk=paper),
            school_class=SchoolClass.objects.get(pk=scene.ids["class_id"]),
            by=scene.users[CAROL],
        )
        assert refused(send(scene, ALICE, "get", f"/exams/{paper}/"))
        assert refused(send(scene, ALICE, "get", f"/api/v1/papers/{paper}"))
        assert send(scene, ALICE, "post", f"/api/v1/papers/{paper}/sessions").status in (400, 403, 404, 409)
        assert f'href="/exams/{paper}/"' not in send(scene, ALICE, "get", "/exams/").text
        assert send(scene, BOB, "get", f"/exams/{paper}/").status == 200
        assert f'href="/exams/{paper}/"' in send(scene, BOB, "get", "/exams/").text
        transaction.set_rollback(True)


# --- CSRF ---------------------------------------------------------------------------------------------


def _csrf_client(scene: Scene, role: str) -> Client:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    if role != ANON:
        client.cookies[django_settings.SESSION_COOKIE_NAME] = scene.cookies[role]
    return client


def _first_allowed(entry: Access | None, method: str) -> str:
    if entry is None:
        return ROOT
    allowed = entry.methods.get(method, NOBODY)
    return next((role for role in (ALICE, CAROL, ROOT, ANON) if role in allowed), ROOT)


def test_every_form_refuses_a_post_without_its_csrf_token(scene):
    """Every HTML route that takes a POST, signed in as someone who may, without the token: 403."""
    problems = []
    checked = 0
    for route in ROUTES:
        if route.template.startswith("/api/"):
            continue
        entry = ACCESS.get(route_key(route))
        if entry is not None and not entry.methods.get("post"):
            continue
        role = _first_allowed(entry, "post")
        path = fill(route, scene, entry.params if entry else None)
        client = _csrf_client(scene, role)
        with transaction.atomic():
            response = client.post(path, _body_of(entry.body.get("post", {}), scene) if entry else {})
            transaction.set_rollback(True)
        checked += 1
        if response.status_code != 403:
            problems.append(f"{role} POST {path} without a CSRF token → {response.status_code}")
    assert checked > 20
    assert not problems, "\n".join(problems)


def test_the_api_with_a_session_refuses_a_write_without_the_csrf_token(scene):
    ids = scene.ids
    tries = [
        (ALICE, "post", f"/api/v1/papers/{ids['paper_id']}/sessions", {}),
        (ALICE, "put", f"/api/v1/sessions/{ids['session_id']}/answers/1", {"response": "A"}),
        (ALICE, "post", f"/api/v1/questions/{ids['question_id']}/answers", {"response": "A"}),
        (CAROL, "post", "/api/v1/questions", QUESTION_BODY),
        (CAROL, "post", f"/api/v1/answers/{ids['answer_id']}/grade", {"score": "1"}),
        (ROOT, "post", f"/api/v1/tuning/runs/{ids['run_id']}/resume", {}),
    ]
    problems = []
    for role, method, path, body in tries:
        client = _csrf_client(scene, role)
        with transaction.atomic():
            response = getattr(client, method)(path, json.dumps(body), content_type="application/json")
            transaction.set_rollback(True)
        if response.status_code != 403 or "CSRF" not in response.content.decode():
            problems.append(f"{role} {method.upper()} {path} without a CSRF token → {response.status_code}")
    assert not problems, "\n".join(problems)


# --- the model server's port -------------------------------------------------------------------------

# What vLLM's OpenAI server answers: inference under /v1 and beside it, adapters, and the open extras.
MODEL_ROUTES = (
    ("get", "/v1/models"),
    ("post", "/v1/chat/completions"),
    ("post", "/v1/completions"),
    ("post", "/v1/load_lora_adapter"),
    ("post", "/v1/unload_lora_adapter"),
    ("post", "/invocations"),
    ("post", "/tokenize"),
    ("post", "/detokenize"),
    ("post", "/pooling"),
    ("get", "/metrics"),
    ("get", "/version"),
    ("get", "/ping"),
)


def test_no_persona_of_the_site_reaches_the_model_server(scene, public_port):  # noqa: F811
    """The model port is a door of its own: no persona's sign-in (session cookie or API token) opens any
    of its routes; only the server's key does, and the health probe alone needs none."""
    from rest_framework.authtoken.models import Token

    credentials = {ANON: {}}
    for role in ROLES[1:]:
        token = Token.objects.get_or_create(user=scene.users[role])[0].key
        credentials[role] = {"Cookie": f"{django_settings.SESSION_COOKIE_NAME}={scene.cookies[role]}"}
        credentials[f"{role} (token)"] = {"Authorization": f"Token {token}"}
        credentials[f"{role} (token as bearer)"] = {"Authorization": f"Bearer {token}"}
    problems = []
    for (who, headers), (method, path) in itertools.product(credentials.items(), MODEL_ROUTES):
        response = requests.request(method, f"{public_port}{path}", json={}, headers=headers, timeout=10)
        if response.status_code != 401:
            problems.append(f"{who} {method.upper()} {path} → {response.status_code}")
    assert Upstream.seen == []
    assert not problems, "\n".join(problems)
    assert requests.get(f"{public_port}/health", timeout=10).status_code == 200
    keyed = requests.post(f"{public_port}/invocations", json={}, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert keyed.status_code == 200 and Upstream.seen[-1] == ("POST", "/invocations")
