"""No answer key leaks while an exam is in progress.

alice is in the middle of an exam whose questions carry distinctive keys, explanations, option
feedback, reference answers and a matching key. Every route of the URL conf (walked recursively) and
every path of the OpenAPI schema is fetched with GET as alice, its parameters filled with the ids she
can reach (her session, the paper, its questions, her answers) and the other ids that exist. No
response may carry a secret text, the matching key, or, where it concerns the exam, a field that
tells right from wrong. Routes added later are covered without touching this file: each is one
test case, named by its path.

The exam's questions also reach alice by the other ways a key used to leak: a teacher's edit of one
of them mid-exam (a new version, with its own explanation), a practice paper holding that version and
another exam question (alice tries to check both), a practice paper she checked before the exam
existed, and a practice answer from then (its explanation stream included).
"""

from __future__ import annotations

import html
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client, override_settings
from django.urls import resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone

from core.exceptions import ApplicationError
from quizbank.models import Answer, ImportJob, PaperMode, QuestionType, QuizSession, SessionState
from quizbank.services import (
    answer_submit,
    paper_create,
    question_create,
    question_update,
    session_answer_save,
    session_finish,
    session_start,
)
from tests.routes import BRACED_PARAMETER, Route, schema_paths, urlconf_routes

MARK = "【密卷】"  # every stem of the exam carries it: a response that shows one concerns the exam
SECRETS = [
    "解析：独特的解析文本一",
    "解析：独特的解析文本二",
    "解析：独特的解析文本三",
    "解析：独特的解析文本四",
    "解析：独特的解析文本五",
    "解析：独特的解析文本六",
    "解析：独特的解析文本七",
    "解析：独特的解析文本八",
    "解析：独特的解析文本九",
    "总体反馈：独特的总体反馈",
    "选项反馈：甲不对",
    "选项反馈：乙才对",
    "多选反馈：丙也要选",
    "判断反馈：正确的理由",
    "紫罗兰色",
    "堇菜紫",
    "299792.458",
    "数值反馈：光速",
    "光合作用产生氧气",
    "叶绿体放氧",
    "简答反馈：完全正确",
    "论述参考答案：独特的参考文本",
    "评分要点：独特的要点",
    "评分说明：独特的说明",
    "东方地平线",
    "完形反馈：独特文本",
    "完形选项反馈：独特文本",
    "解析：修订版的独特解析",  # the explanation of an exam question's edited version
]
PAIRS = [("左甲", "右项-锂"), ("左乙", "右项-氢"), ("左丙", "右项-氦")]
DISTRACTOR = "右项-铍"
# The order alice's matching choices are shown in (set on her item): neither the key's order nor sorted.
SHOWN_ORDER = ["右项-氦", DISTRACTOR, "右项-锂", "右项-氢"]
# Fields that tell right from wrong; none may reach alice about her exam while it runs.
VERDICT_WORDS = ("fraction", "is_correct", "correct_options")
ITEM_FIELDS_WHILE_OPEN = {"key", "correct", "awarded", "explanation", "feedback", "general_feedback", *VERDICT_WORDS}
ITEM_FIELDS_WHILE_OPEN |= {"answer", "answer_data", "correct_answer", "explanation_source", "grade_status"}

ALICES_RESPONSES = {  # all wrong, and free of any secret
    "single": "A",
    "multiple": ["A", "B"],
    "true_false": "错",
    "fill": ["蓝色"],
    "numerical": "3.0",
    "matching": {"左甲": "右项-氢", "左乙": "右项-锂", "左丙": DISTRACTOR},
    "short": "植物吸收二氧化碳",
    "essay": "我的论述草稿",
    "cloze": ["西方", "夜晚"],
}
BOBS_RESPONSES = {  # all right: bob's answers carry the secrets
    "single": "B",
    "multiple": ["A", "C"],
    "true_false": "对",
    "fill": ["紫罗兰色"],
    "numerical": "299792.458",
    "matching": dict(PAIRS),
    "short": "光合作用产生氧气",
    "essay": "论述参考答案：独特的参考文本",
    "cloze": ["东方地平线", "早晨"],
}


# --- the routes -------------------------------------------------------------------------------------

URLCONF_ROUTES = urlconf_routes()
SCHEMA_PATHS, SCHEMA_ERROR = schema_paths()


def _student_routes() -> list[Route]:
    routes = {route.template: route for route in URLCONF_ROUTES if not route.namespace.startswith("admin")}
    for path, methods in SCHEMA_PATHS.items():
        if "get" in methods and path not in routes:
            routes[path] = Route(path, tuple((name, "schema") for name in BRACED_PARAMETER.findall(path)))
    return sorted(routes.values(), key=lambda route: route.template)


STUDENT_ROUTES = _student_routes()
ADMIN_ROUTES = [route for route in URLCONF_ROUTES if route.namespace.startswith("admin")]


def _route_param(route: Route):
    return pytest.param(route, id=route.template)


# --- the exam in progress ---------------------------------------------------------------------------


@dataclass
class Scene:
    alice: object
    carol: object
    alice_session: QuizSession
    dan: object  # a classmate who has submitted the same wrong answers; the paper is not closed yet
    dan_session: QuizSession
    ids: dict[str, list[int]] = field(default_factory=dict)
    # By parameter kind, the ids of alice's and dan's attempts: a path naming one concerns the exam.
    exam_ids: dict[str, set[int]] = field(default_factory=dict)

    def states_changed(self) -> list[str]:
        """A GET must change nothing: both attempts stay as they were."""
        changed = []
        for session, state in (
            (self.alice_session, SessionState.IN_PROGRESS),
            (self.dan_session, SessionState.FINISHED),
        ):
            session.refresh_from_db()
            if session.state != state:
                changed.append(f"{session.user.username}'s session is now {session.state}")
        return changed


def _exam_questions() -> dict:
    def create(qtype, stem, **data):
        return question_create(data={"subject": "测试/保密", "qtype": qtype, "stem": f"{MARK}{stem}", **data})

    return {
        "single": create(
            QuestionType.SINGLE_CHOICE,
            "单选：哪一个？",
            options=[
                {"key": "A", "text": "选项甲文本", "fraction": 0, "feedback": "选项反馈：甲不对"},
                {"key": "B", "text": "选项乙文本", "fraction": 1, "feedback": "选项反馈：乙才对"},
                {"key": "C", "text": "选项丙文本", "fraction": 0},
            ],
            answer="B",
            explanation="解析：独特的解析文本一",
            general_feedback="总体反馈：独特的总体反馈",
        ),
        "multiple": create(
            QuestionType.MULTIPLE_CHOICE,
            "多选：哪几个？",
            options=[
                {"key": "A", "text": "多选甲", "fraction": 0.5},
                {"key": "B", "text": "多选乙", "fraction": -1},
                {"key": "C", "text": "多选丙", "fraction": 0.5, "feedback": "多选反馈：丙也要选"},
            ],
            answer="AC",
            explanation="解析：独特的解析文本二",
            score=2,
            partial_score=1,
        ),
        "true_false": create(
            QuestionType.TRUE_FALSE,
            "判断：对吗？",
            answer="true",
            answer_data={"feedback_true": "判断反馈：正确的理由"},
            explanation="解析：独特的解析文本三",
        ),
        "fill": create(
            QuestionType.FILL_BLANK,
            "填空：紫色的一种叫____",
            answer="紫罗兰色",
            answer_data={"blanks": [{"answers": ["紫罗兰色", "堇菜紫"]}]},
            explanation="解析：独特的解析文本四",
        ),
        "numerical": create(
            QuestionType.NUMERICAL,
            "数值：光速是多少 km/s？",
            answer="299792.458",
            answer_data={
                "answers": [{"value": 299792.458, "tolerance": 0.001, "fraction": 1.0, "feedback": "数值反馈：光速"}]
            },
            explanation="解析：独特的解析文本五",
        ),
        "matching": create(
            QuestionType.MATCHING,
            "匹配：连线",
            answer_data={
                "pairs": [{"left": left, "right": right} for left, right in PAIRS],
                "distractors": [DISTRACTOR],
            },
            explanation="解析：独特的解析文本六",
            score=3,
        ),
        "short": create(
            QuestionType.SHORT_ANSWER,
            "简答：光合作用的产物？",
            answer="光合作用产生氧气",
            answer_data={
                "answers": [
                    {"text": "光合作用产生氧气", "fraction": 1.0, "feedback": "简答反馈：完全正确"},
                    {"text": "叶绿体放氧*", "fraction": 0.5},
                ]
            },
            explanation="解析：独特的解析文本七",
        ),
        "essay": create(
            QuestionType.ESSAY,
            "论述：谈谈光合作用",
            answer="论述参考答案：独特的参考文本",
            answer_data={
                "rubric": [{"id": "r1", "criterion": "评分要点：独特的要点", "points": 5}],
                "grading_instructions": "评分说明：独特的说明",
            },
            explanation="解析：独特的解析文本八",
            score=5,
        ),
        "cloze": create(
            QuestionType.CLOZE,
            "完形：太阳从 {#1} 升起，时间是 {#2}",
            answer_data={
                "subquestions": [
                    {
                        "type": "short_answer",
                        "weight": 1,
                        "answers": [{"text": "东方地平线", "fraction": 1, "feedback": "完形反馈：独特文本"}],
                    },
                    {
                        "type": "single_choice",
                        "weight": 1,
                        "options": [
                            {"key": "A", "text": "早晨", "fraction": 1, "feedback": "完形选项反馈：独特文本"},
                            {"key": "B", "text": "夜晚", "fraction": 0},
                        ],
                    },
                ]
            },
            explanation="解析：独特的解析文本九",
        ),
    }


def _answer_all(user, session, questions: dict, responses: dict) -> None:
    positions = {item.question_id: item.position for item in session.items.all()}
    for name, response in responses.items():
        position = positions[questions[name].pk]
        session_answer_save(user=user, session_id=session.pk, position=position, response=response)


def _build_scene() -> Scene:
    users = get_user_model().objects
    alice, bob, dan = [users.create_user(name, password=f"{name}-pass-123") for name in ("alice", "bob", "dan")]
    carol = users.create_user("carol", password="carol-pass-123")
    carol.groups.add(Group.objects.get_or_create(name="teacher")[0])
    now = timezone.now()
    questions = _exam_questions()
    # Before the exam existed alice practised two of its questions: on their own and on a practice paper.
    early_answer = answer_submit(user=alice, question=questions["short"], response="植物吸收二氧化碳")
    early_paper = paper_create(
        title="考前练习", questions=[questions["true_false"]], mode=PaperMode.PRACTICE, attempts_allowed=0
    )
    early = session_start(user=alice, paper=early_paper)
    session_answer_save(user=alice, session_id=early.pk, position=1, response="错")
    exam = paper_create(
        title="期末考试",
        questions=list(questions.values()),
        created_by=carol,
        close_at=now + timedelta(days=1),
        review_score="after_close",
        review_correctness="after_close",
        review_answer="after_close",
        review_explanation="after_close",
    )
    draft = paper_create(title="草稿试卷", questions=list(questions.values())[:3], created_by=carol, published=False)

    # bob has finished with every answer right: his answers hold the keys.
    bobs = session_start(user=bob, paper=exam)
    _answer_all(bob, bobs, questions, BOBS_RESPONSES)
    session_finish(user=bob, session_id=bobs.pk)

    session = session_start(user=alice, paper=exam)
    session.items.filter(question=questions["matching"]).update(option_order=SHOWN_ORDER)
    _answer_all(alice, session, questions, ALICES_RESPONSES)

    # dan has submitted alice's wrong answers: the review policy still hides everything from him.
    dans = session_start(user=dan, paper=exam)
    dans.items.filter(question=questions["matching"]).update(option_order=SHOWN_ORDER)
    _answer_all(dan, dans, questions, ALICES_RESPONSES)
    session_finish(user=dan, session_id=dans.pk)

    # Mid-exam, carol edits a question of the exam (a new version) and puts it, with another question of
    # the exam, on a practice paper; alice opens it and tries to check both.
    edited = question_update(
        question=questions["single"],
        data={"stem": f"{MARK}单选：哪一个？（修订）", "explanation": "解析：修订版的独特解析"},
    )
    leaky = paper_create(
        title="含考题的练习卷", questions=[edited, questions["fill"]], mode=PaperMode.PRACTICE, attempts_allowed=0
    )
    leaky_session = session_start(user=alice, paper=leaky)
    for position, response in ((1, "B"), (2, ["紫罗兰色"])):
        try:
            session_answer_save(user=alice, session_id=leaky_session.pk, position=position, response=response)
        except ApplicationError:
            pass  # refused: the walk checks that nothing shows what a check would have shown

    # Elsewhere alice may see keys: a practice paper and a practice answer on other questions.
    other = question_create(
        data={"subject": "测试/练习", "qtype": QuestionType.SINGLE_CHOICE, "stem": "练习题", "answer": "A"}
        | {"options": [{"key": "A", "text": "是"}, {"key": "B", "text": "否"}], "explanation": "练习解析"}
    )
    practice = paper_create(title="练习卷", questions=[other], mode=PaperMode.PRACTICE, attempts_allowed=0)
    drill = session_start(user=alice, paper=practice)
    session_answer_save(user=alice, session_id=drill.pk, position=1, response="B")
    session_finish(user=alice, session_id=drill.pk)
    answer_submit(user=alice, question=other, response="A")
    job = ImportJob.objects.create(file_path="/nonexistent/bank.json", file_name="bank.json", created_by=carol)

    sessions = [session.pk, dans.pk, bobs.pk, drill.pk, early.pk, leaky_session.pk]
    ids = {
        "session": sessions,
        "paper": [exam.pk, draft.pk, practice.pk, early_paper.pk, leaky.pk],
        "question": [question.pk for question in questions.values()] + [edited.pk, other.pk],
        "answer": list(Answer.objects.order_by("id").values_list("pk", flat=True)),
        "item": [item.pk for attempt in (session, dans, bobs) for item in attempt.items.all()],
        "position": list(range(1, len(questions) + 1)),
        "job": [job.pk],
        "user": [alice.pk, dan.pk, bob.pk, carol.pk],
    }
    assert early_answer.pk in ids["answer"]
    ids["any"] = sorted({value for values in ids.values() for value in values})
    exam_ids = {
        "session": {session.pk, dans.pk},
        "answer": set(Answer.objects.filter(session__in=[session, dans]).values_list("pk", flat=True)),
        "item": {item.pk for attempt in (session, dans) for item in attempt.items.all()},
    }
    return Scene(alice=alice, carol=carol, alice_session=session, dan=dan, dan_session=dans, ids=ids, exam_ids=exam_ids)


@pytest.fixture(scope="module")
def _scene(django_db_setup, django_db_blocker):
    """Built once for the module, inside a transaction rolled back at its end; each test runs in a
    savepoint of it (the `db` fixture), so what a test writes is undone before the next."""
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), fast:
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _build_scene()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def scene(_scene, db) -> Scene:
    return _scene


@pytest.fixture
def as_alice(scene) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(scene.alice)
    return client


# --- filling routes in ------------------------------------------------------------------------------

_PARAMETER_KINDS = ("session", "paper", "question", "answer", "item", "position", "job", "user")
_MAX_PATHS = 100  # per route; beyond it an even sample of the combinations


def _kind(name: str) -> str:
    lowered = name.lower()
    return next((key for key in _PARAMETER_KINDS if key in lowered), "any")


def _values(name: str, kind: str, ids: dict[str, list[int]]) -> list[str]:
    values = [str(value) for value in ids[_kind(name)]]
    if kind not in ("int", "schema"):
        values.append("x")  # a name or a slug: something that exists nowhere
    return values


def _paths(route: Route, scene: Scene) -> list[tuple[str, bool]]:
    """The paths to fetch, each with whether it names alice's exam (her session, item or answer)."""
    ids = scene.ids
    if not route.params:
        list_filters = f"?session={ids['session'][0]}&paper={ids['paper'][0]}&question={ids['question'][0]}"
        return [(route.template, False), (route.template + list_filters, False)]
    names = [name for name, _ in route.params]
    choices = [_values(name, kind, ids) for name, kind in route.params]
    combos = list(itertools.product(*choices))
    paths = []
    for combo in combos[:: max(1, -(-len(combos) // _MAX_PATHS))]:
        filled = dict(zip(names, combo, strict=True))
        concerns = any(
            value.isdigit() and int(value) in scene.exam_ids.get(_kind(name), ()) for name, value in filled.items()
        )
        paths.append((route.template.format(**filled), concerns))
    return paths


def _resolves(path: str) -> bool:
    try:
        resolve(path.split("?", 1)[0])
    except Resolver404:
        return False
    return True


# --- what a response may not carry ------------------------------------------------------------------

_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _body(response) -> str:
    if getattr(response, "streaming", False):
        raw = b"".join(itertools.islice(response.streaming_content, 10_000))
    else:
        raw = response.content
    return raw.decode(response.charset or "utf-8", errors="replace")


def _readings(text: str) -> list[str]:
    """The body as sent, with HTML entities resolved and with \\uXXXX escapes (JSON, json_script) decoded."""
    readings = [text, html.unescape(text)]
    readings.append(_UNICODE_ESCAPE.sub(lambda match: chr(int(match[1], 16)), readings[1]))
    return readings


def _json(response, text: str):
    if "json" not in response.get("Content-Type", ""):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _nodes(value):
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nodes(item)


def _matching_key_shown(readings: list[str], data) -> str:
    rights = [right for _, right in PAIRS]
    for node in _nodes(data):
        if node == rights:
            return "the matching choices in the key's order"
        if isinstance(node, dict) and (str(node.get("left")), str(node.get("right"))) in PAIRS:
            return f"a matching pair {node}"
        if isinstance(node, dict) and all(node.get(left) == right for left, right in PAIRS):
            return "the matching key as {left: right}"
    for text in readings:
        for left, right in PAIRS:
            if re.search(re.escape(left) + r"[\"']?\s*(?:→|->|=>|:|：|=)\s*[\"']?" + re.escape(right), text):
                return f"the matching pair {left} → {right}"
        first = [text.find(right) for right in rights]
        if all(position >= 0 for position in first) and first == sorted(first):
            return "the matching choices first shown in the key's order"
    return ""


def problems_of(response, path: str, *, concerns_exam: bool = False) -> list[str]:
    """Everything wrong with one response to alice during her exam. A response concerns the exam
    when its path names alice's session, item or answer, or when it shows a question of the exam."""
    if response.status_code >= 500:
        return [f"GET {path} → {response.status_code} (a GET must not crash)"]
    text = _body(response)
    readings = _readings(text)
    data = _json(response, text)
    if data is not None:
        readings.append(json.dumps(data, ensure_ascii=False))
    found = []
    for secret in SECRETS:
        if any(secret in reading for reading in readings):
            found.append(f"GET {path} → {response.status_code} shows {secret!r}")
    if concerns_exam or any(MARK in reading for reading in readings):
        matching = _matching_key_shown(readings, data)
        if matching:
            found.append(f"GET {path} → {response.status_code} shows {matching}")
        for word in VERDICT_WORDS:
            if any(re.search(rf"\b{word}\b", reading) for reading in readings):
                found.append(f"GET {path} → {response.status_code} carries {word!r}")
        for node in _nodes(data):
            if isinstance(node, dict) and MARK in str(node.get("stem", "")):
                leaked = sorted(ITEM_FIELDS_WHILE_OPEN & set(node))
                if leaked:
                    found.append(f"GET {path}: an exam item carries {leaked}")
                for option in node.get("options") or []:
                    if isinstance(option, dict) and set(option) - {"key", "text"}:
                        found.append(f"GET {path}: an exam option carries {sorted(set(option) - {'key', 'text'})}")
    return found


def walk(client: Client, route: Route, scene: Scene) -> tuple[list[str], int]:
    """GET every filling of the route; the problems found and how many paths resolved."""
    problems: list[str] = []
    fetched = 0
    for path, concerns_exam in _paths(route, scene):
        if not _resolves(path):
            continue
        fetched += 1
        response = client.get(path, follow=False)
        problems += problems_of(response, path, concerns_exam=concerns_exam)
        changed = scene.states_changed()
        if changed:
            problems.append(f"GET {path} changed state: {'; '.join(changed)}")
            break
    return problems, fetched


# --- the tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", [_route_param(route) for route in STUDENT_ROUTES])
def test_no_route_shows_the_key_before_the_exam_closes(route, scene, as_alice):
    """alice while she answers, then dan, who has submitted: the paper is not closed, nothing shows."""
    as_dan = Client(raise_request_exception=False)
    as_dan.force_login(scene.dan)
    problems, fetched = walk(as_alice, route, scene)
    problems += [f"(dan) {problem}" for problem in walk(as_dan, route, scene)[0]]
    assert not problems, "\n".join(problems)
    assert fetched or route.params, f"{route.template} resolved for none of its fillings"


def test_admin_turns_alice_away(scene, as_alice):
    """Every admin route (one test: there are a hundred, all behind the same gate) and the pages of
    every registered model send her to the admin login, or refuse."""
    from django.urls import reverse

    paths = [(path, route.url_name) for route in ADMIN_ROUTES for path, _ in _paths(route, scene)]
    for model in admin.site._registry:
        app, name = model._meta.app_label, model._meta.model_name
        paths += [(reverse("admin:app_list", args=[app]), ""), (reverse(f"admin:{app}_{name}_changelist"), "")]
        ids = scene.ids.get(name.removeprefix("quiz"), scene.ids["any"])[:3]
        paths += [(reverse(f"admin:{app}_{name}_change", args=[pk]), "") for pk in ids]
    problems = []
    for path, url_name in paths:
        if not _resolves(path):
            continue
        response = as_alice.get(path, follow=False)
        problems += problems_of(response, path)
        if url_name == "login":
            continue  # the login form itself, with no data
        if response.status_code == 302:  # to the login form, or to the index that sends her there
            if response["Location"].split("?")[0] not in ("/admin/login/", "/admin/"):
                problems.append(f"GET {path} → 302 to {response['Location']}")
        elif response.status_code not in (403, 404, 405):
            problems.append(f"GET {path} → {response.status_code}")
    assert len(paths) > 50
    assert not problems, "\n".join(problems)


def test_the_walk_finds_the_routes_and_the_schema():
    assert SCHEMA_ERROR == "", f"the OpenAPI schema cannot be generated: {SCHEMA_ERROR}"
    templates = {route.template for route in STUDENT_ROUTES}
    for core in ("/api/v1/sessions/{session_id}", "/api/v1/papers", "/api/schema/", "/healthz"):
        assert core in templates
    # Every schema path is a route of the URL conf: the walk and the schema agree.
    walked = {route.template for route in URLCONF_ROUTES}
    assert set(SCHEMA_PATHS) <= walked, sorted(set(SCHEMA_PATHS) - walked)
    assert any(route.template == "/admin/" for route in ADMIN_ROUTES)


def test_alice_does_see_her_exam(scene, as_alice):
    """The walk reaches real content: some route shows alice her exam, as JSON and as a page, with her
    own answers and the matching choices in the order set for her."""
    seen = set()
    for route in STUDENT_ROUTES:
        if [name for name, _ in route.params] != ["session_id"]:
            continue
        response = as_alice.get(route.template.format(session_id=scene.alice_session.pk))
        if response.status_code != 200 or MARK not in _readings(_body(response))[-1]:
            continue
        data = _json(response, _body(response))
        if data is None:
            seen.add("page")
            continue
        seen.add("json")
        items = {item["qtype"]: item for item in data["items"]}
        assert items["fill_blank"]["response"] == ALICES_RESPONSES["fill"]
        assert items["matching"]["choices"] == SHOWN_ORDER
    assert seen == {"page", "json"}


def test_the_check_sees_a_key_where_one_is_shown(scene):
    """The secrets are real and the check finds them: the teacher's bank API shows every one."""
    teacher = Client()
    teacher.force_login(scene.carol)
    found = []
    for question in scene.ids["question"]:
        path = f"/api/v1/questions/{question}"
        found += problems_of(teacher.get(path), path)
    report = "\n".join(found)
    for expected in ("紫罗兰色", "解析：独特的解析文本一", "选项反馈：乙才对", "评分说明：独特的说明", "matching pair"):
        assert expected in report
    assert "carries 'fraction'" in report
