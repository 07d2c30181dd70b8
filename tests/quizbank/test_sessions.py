"""Attempts at papers: start and resume, the window and the deadline, autosave, finishing, teacher
grading, the grade over attempts, practice mode and the wrong-answer book (real database)."""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from core.exceptions import ApplicationError
from quizbank.models import (
    Answer,
    GradeStatus,
    Paper,
    PaperMode,
    Question,
    QuestionType,
    QuizSession,
    SessionState,
    WrongBookEntry,
)
from quizbank.selectors.exams import paper_grade, papers_for_student, session_view, wrong_book_of
from quizbank.services import (
    RuleSpec,
    answer_grade,
    paper_create,
    paper_create_random,
    paper_update,
    question_create,
    question_update,
    session_advance,
    session_answer_save,
    session_expire_if_due,
    session_finish,
    session_start,
    sessions_sweep,
    wrong_book_practice_create,
)
from quizbank.signals import answers_need_grading

pytestmark = pytest.mark.django_db

D = Decimal
_numbers = itertools.count(1)


def make_question(qtype: str, **data) -> Question:
    """A question of the bank, made the way a teacher makes one; the numbered stem keeps each distinct."""
    number = next(_numbers)
    stem = data.pop("stem", f"题目 {number}：{qtype}")
    return question_create(data={"subject": "测试/会话", "qtype": qtype, "stem": f"{stem} #{number}", **data})


def options(*texts):
    return [{"key": key, "text": text} for key, text in zip("ABCDEF", texts, strict=False)]


def every_type() -> dict[str, Question]:
    """One question of each type, with known keys."""
    return {
        "single": make_question(
            QuestionType.SINGLE_CHOICE, options=options("甲", "乙", "丙", "丁"), answer="B", score=2
        ),
        "multiple": make_question(
            QuestionType.MULTIPLE_CHOICE, options=options("甲", "乙", "丙", "丁"), answer="AC", score=4, partial_score=1
        ),
        "true_false": make_question(QuestionType.TRUE_FALSE, answer="true", score=1),
        "fill": make_question(
            QuestionType.FILL_BLANK,
            answer="北京；上海",
            answer_data={"blanks": [{"answers": ["北京", "北京市"]}, {"answers": ["上海"]}]},
            score=2,
        ),
        "numerical": make_question(
            QuestionType.NUMERICAL,
            answer="3.14",
            answer_data={"answers": [{"value": 3.14, "tolerance": 0.01, "fraction": 1.0}]},
            score=2,
        ),
        "matching": make_question(
            QuestionType.MATCHING,
            answer_data={
                "pairs": [
                    {"left": "中国", "right": "北京"},
                    {"left": "日本", "right": "东京"},
                    {"left": "法国", "right": "巴黎"},
                ],
                "distractors": ["伦敦"],
            },
            score=3,
        ),
        "short": make_question(
            QuestionType.SHORT_ANSWER,
            answer="光合作用",
            answer_data={"answers": [{"text": "光合作用", "fraction": 1.0}]},
            score=2,
        ),
        "essay": make_question(QuestionType.ESSAY, answer="参考答案", score=10),
        "cloze": make_question(
            QuestionType.CLOZE,
            stem="巴黎的河是 {#1}",
            answer_data={
                "subquestions": [{"type": "short_answer", "weight": 1, "answers": [{"text": "Seine", "fraction": 1}]}]
            },
            score=1,
        ),
        "description": make_question(QuestionType.DESCRIPTION, score=0),
    }


# The right response to each question of every_type(), as a client sends it.
RIGHT = {
    "single": "B",
    "multiple": ["A", "C"],
    "true_false": "对",
    "fill": ["北京市", "上海"],
    "numerical": "3.145",
    "matching": {"中国": "北京", "日本": "东京", "法国": "巴黎"},
    "short": "光合作用",
    "essay": "植物在光照下……",
    "cloze": ["seine"],
    "description": None,
}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The personas' passwords are hashed for real otherwise: 0.4 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def bank(db):
    return every_type()


@pytest.fixture
def exam(bank, carol) -> Paper:
    """A fixed exam of every type, in the order of every_type()."""
    return paper_create(title="综合测验", questions=list(bank.values()), created_by=carol, attempts_allowed=0)


def position_of(session: QuizSession, question: Question) -> int:
    return session.items.get(question=question).position


def save(user, session, question, response, **kwargs) -> Answer:
    return session_answer_save(
        user=user, session_id=session.pk, position=position_of(session, question), response=response, **kwargs
    )


@contextmanager
def refused(code: str):
    """pytest.raises for an ApplicationError with this extra["code"]."""
    with pytest.raises(ApplicationError) as error:
        yield error
    assert error.value.extra.get("code") == code, (error.value.message, error.value.extra)


# --- starting, resuming, pinned versions ---------------------------------------------------------


def test_start_creates_items_pinned_to_the_versions_of_the_paper(alice, bob, demo_bank, carol):
    questions = demo_bank[:3]
    paper = paper_create(title="期中", questions=questions, scores=[1, 2, 3], created_by=carol)
    session = session_start(user=alice, paper=paper)
    assert [(item.position, item.question_id, item.score) for item in session.items.all()] == [
        (1, questions[0].pk, D("1.00")),
        (2, questions[1].pk, D("2.00")),
        (3, questions[2].pk, D("3.00")),
    ]
    assert session.max_score == D("6.00") and session.number == 1 and session.state == SessionState.IN_PROGRESS

    edited = question_update(question=questions[0], data={"stem": "改过的题干"})
    assert edited.pk != questions[0].pk and edited.version == 2 and edited.root_id == questions[0].pk
    questions[0].refresh_from_db()
    assert questions[0].is_current is False and questions[0].stem != "改过的题干"
    # The attempt, the paper and a later attempt all keep the version the paper was built with.
    assert session.items.get(position=1).question_id == questions[0].pk
    assert paper.items.get(position=1).question_id == questions[0].pk
    assert session_start(user=bob, paper=paper).items.get(position=1).question_id == questions[0].pk
    assert session_view(session)["items"][0]["stem"] == questions[0].stem


def test_editing_a_question_drawn_by_a_random_paper_keeps_the_attempts_version(alice, bank):
    paper = paper_create_random(title="随机", rules=[RuleSpec(count=1, qtype=QuestionType.SHORT_ANSWER)])
    session = session_start(user=alice, paper=paper)
    drawn = session.items.get().question
    edited = question_update(question=drawn, data={"answer": "呼吸作用", "answer_data": {}})
    drawn.refresh_from_db()
    assert drawn.answer == "光合作用"
    assert edited.pk != drawn.pk and edited.answer == "呼吸作用" and edited.version == drawn.version + 1


def test_start_again_resumes_the_open_session(alice, exam):
    first = session_start(user=alice, paper=exam)
    assert session_start(user=alice, paper=exam).pk == first.pk
    assert QuizSession.objects.filter(user=alice, paper=exam).count() == 1


def test_attempts_allowed_is_enforced(alice, bank, now):
    paper = paper_create(title="两次机会", questions=[bank["single"]], attempts_allowed=2)
    for number in (1, 2):
        session = session_start(user=alice, paper=paper, now=now)
        assert session.number == number
        session_finish(user=alice, session_id=session.pk, now=now)
    with refused("no_attempts"):
        session_start(user=alice, paper=paper, now=now)


def test_unlimited_attempts(alice, bank, now):
    paper = paper_create(title="不限次数", questions=[bank["single"]], attempts_allowed=0)
    for number in range(1, 5):
        session = session_start(user=alice, paper=paper, now=now)
        assert session.number == number
        session_finish(user=alice, session_id=session.pk, now=now)


def test_the_window_is_enforced(alice, bank, now):
    paper = paper_create(
        title="限时开放",
        questions=[bank["single"]],
        open_at=now + timedelta(hours=1),
        close_at=now + timedelta(hours=2),
    )
    with refused("not_open"):
        session_start(user=alice, paper=paper, now=now)
    with refused("closed"):
        session_start(user=alice, paper=paper, now=now + timedelta(hours=2))
    assert session_start(user=alice, paper=paper, now=now + timedelta(hours=1)).is_open


def test_unpublished_and_other_students_papers_cannot_be_started(alice, bob, bank):
    hidden = paper_create(title="草稿", questions=[bank["single"]], published=False)
    personal = paper_create(title="bob 的练习", questions=[bank["single"]], owner=bob, mode=PaperMode.PRACTICE)
    for paper in (hidden, personal):
        with refused("not_available"):
            session_start(user=alice, paper=paper)
    assert session_start(user=bob, paper=personal).user == bob


@pytest.mark.parametrize(
    ("limit", "close_in", "expected"),
    [
        (600, 300, 300),  # the paper closes before the time limit runs out
        (600, 3600, 600),
        (600, None, 600),
        (None, 3600, 3600),
        (None, None, None),
    ],
)
def test_deadline_is_the_earlier_of_time_limit_and_close(alice, bank, now, limit, close_in, expected):
    paper = paper_create(
        title="计时",
        questions=[bank["single"]],
        time_limit_seconds=limit,
        close_at=None if close_in is None else now + timedelta(seconds=close_in),
    )
    session = session_start(user=alice, paper=paper, now=now)
    assert session.deadline == (None if expected is None else now + timedelta(seconds=expected))
    assert session_view(session, now=now)["seconds_left"] == expected


def test_closing_a_paper_early_moves_the_deadlines_of_attempts_in_progress(alice, bank, now):
    paper = paper_create(title="提前结束", questions=[bank["single"]], time_limit_seconds=3600)
    session = session_start(user=alice, paper=paper, now=now)
    paper_update(paper=paper, close_at=now + timedelta(minutes=5))
    session.refresh_from_db()
    assert session.deadline == now + timedelta(minutes=5)
    paper_update(paper=paper, close_at=None)
    session.refresh_from_db()
    assert session.deadline == now + timedelta(hours=1)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("attempts_allowed", -1), ("grace_seconds", "30"), ("time_limit_seconds", 0), ("shuffle_options", "yes")]
    + [("mode", "homework"), ("open_at", "2030-01-01"), ("colour", "red")],
)
def test_bad_paper_settings_are_refused(bank, setting, value):
    with pytest.raises(ApplicationError):
        paper_create(title="坏设置", questions=[bank["single"]], **{setting: value})
    assert not Paper.objects.exists()


def test_a_negative_score_on_a_paper_is_refused(bank):
    with pytest.raises(ApplicationError, match="score"):
        paper_create(title="负分", questions=[bank["single"]], scores=[-1])


# --- the deadline and the overdue rules ----------------------------------------------------------


def timed_paper(bank, **settings) -> Paper:
    return paper_create(title="限时测验", questions=[bank["single"], bank["short"]], time_limit_seconds=600, **settings)


def test_save_after_the_deadline_is_refused_and_autosubmit_finishes_the_attempt(alice, bank, now):
    paper = timed_paper(bank, overdue_rule="autosubmit")
    session = session_start(user=alice, paper=paper, now=now)
    save(alice, session, bank["single"], "B", now=now + timedelta(seconds=599))
    with refused("time_up"):
        save(alice, session, bank["short"], "光合作用", now=now + timedelta(seconds=600))
    session.refresh_from_db()
    assert (session.state, session.finished_by, session.score) == (SessionState.FINISHED, "timer", D("2.00"))
    assert Answer.objects.filter(session=session).count() == 2  # the unanswered one scored 0
    with refused("time_up"):
        save(alice, session, bank["short"], "光合作用", now=now + timedelta(seconds=700))


def test_grace_rule_lets_the_student_submit_until_the_grace_period_ends(alice, bob, bank, now):
    paper = timed_paper(bank, overdue_rule="grace", grace_seconds=60)
    late = session_start(user=alice, paper=paper, now=now)
    save(alice, late, bank["single"], "B", now=now)
    with refused("time_up"):
        save(alice, late, bank["single"], "A", now=now + timedelta(seconds=610))
    late.refresh_from_db()
    assert late.state == SessionState.OVERDUE
    finished = session_finish(user=alice, session_id=late.pk, now=now + timedelta(seconds=650))
    assert (finished.state, finished.finished_by, finished.score) == (SessionState.FINISHED, "student", D("2.00"))

    forgotten = session_start(user=bob, paper=paper, now=now)
    assert sessions_sweep(now=now + timedelta(seconds=601)) == 1
    forgotten.refresh_from_db()
    assert forgotten.state == SessionState.OVERDUE
    assert sessions_sweep(now=now + timedelta(seconds=630)) == 0  # still in its grace period
    assert sessions_sweep(now=now + timedelta(seconds=660)) == 1
    forgotten.refresh_from_db()
    assert (forgotten.state, forgotten.score, forgotten.finished_by) == (SessionState.ABANDONED, None, "timer")
    with refused("not_open"):
        session_finish(user=bob, session_id=forgotten.pk, now=now + timedelta(seconds=700))


def test_abandon_rule_abandons_the_attempt(alice, bank, now):
    paper = timed_paper(bank, overdue_rule="abandon")
    session = session_start(user=alice, paper=paper, now=now)
    save(alice, session, bank["single"], "B", now=now)
    expired = session_expire_if_due(session=session, now=now + timedelta(seconds=600))
    assert (expired.state, expired.score) == (SessionState.ABANDONED, None)
    assert session_view(expired)["review"] == {
        "score": False,
        "correctness": False,
        "answer": False,
        "explanation": False,
    }


def test_expire_changes_nothing_before_the_deadline(alice, bank, now):
    session = session_start(user=alice, paper=timed_paper(bank), now=now)
    assert session_expire_if_due(session=session, now=now + timedelta(seconds=599)).state == SessionState.IN_PROGRESS
    assert sessions_sweep(now=now + timedelta(seconds=599)) == 0


def test_the_sweep_finishes_every_overdue_attempt_once(alice, bob, carol, bank, now):
    paper = timed_paper(bank)
    sessions = [session_start(user=user, paper=paper, now=now) for user in (alice, bob)]
    running = session_start(user=carol, paper=paper, now=now + timedelta(seconds=300))
    assert sessions_sweep(now=now + timedelta(seconds=700)) == 2
    assert sessions_sweep(now=now + timedelta(seconds=700)) == 0
    for session in sessions:
        session.refresh_from_db()
        assert (session.state, session.finished_by, session.score) == (SessionState.FINISHED, "timer", D("0.00"))
    running.refresh_from_db()
    assert running.state == SessionState.IN_PROGRESS


def test_one_session_that_cannot_be_closed_does_not_stop_the_sweep(alice, bob, bank, now, monkeypatch, caplog):
    from quizbank.services import sessions as sessions_module

    paper = timed_paper(bank)
    broken, fine = (session_start(user=user, paper=paper, now=now) for user in (alice, bob))
    finish = sessions_module._finish

    def finish_unless_broken(session, **kwargs):
        if session.pk == broken.pk:
            raise RuntimeError("disk full")
        return finish(session, **kwargs)

    monkeypatch.setattr(sessions_module, "_finish", finish_unless_broken)
    assert sessions_sweep(now=now + timedelta(seconds=601)) == 1
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert (broken.state, fine.state) == (SessionState.IN_PROGRESS, SessionState.FINISHED)
    assert f"could not close overdue session {broken.pk}" in caplog.text
    monkeypatch.setattr(sessions_module, "_finish", finish)
    assert sessions_sweep(now=now + timedelta(seconds=602)) == 1  # the next sweep tries again


def test_saving_into_a_submitted_session_says_so_before_the_deadline(alice, bank, now):
    session = session_start(user=alice, paper=timed_paper(bank), now=now)
    session_finish(user=alice, session_id=session.pk, now=now)
    with refused("not_open"):
        save(alice, session, bank["single"], "B", now=now + timedelta(seconds=1))
    with refused("time_up"):
        save(alice, session, bank["single"], "B", now=now + timedelta(seconds=601))


def test_the_beat_task_sweeps_expired_sessions(alice, bank, settings):
    from quizbank.tasks import sweep_sessions
    from quizsite.celery import app

    assert sweep_sessions.name == "quizbank.sweep_sessions" and "quizbank.sweep_sessions" in app.tasks
    assert any(entry["task"] == "quizbank.sweep_sessions" for entry in settings.PERIODIC_TASKS.values())
    started = timezone.now() - timedelta(minutes=20)
    session = session_start(user=alice, paper=timed_paper(bank), now=started)
    save(alice, session, bank["single"], "B", now=started)
    assert sweep_sessions.apply().get() == 1
    session.refresh_from_db()
    assert (session.state, session.finished_by, session.score) == (SessionState.FINISHED, "timer", D("2.00"))


# --- autosave ------------------------------------------------------------------------------------


def test_each_type_saved_right_earns_its_score(alice, exam, bank):
    session = session_start(user=alice, paper=exam)
    for name, response in RIGHT.items():
        if response is None:
            continue
        answer = save(alice, session, bank[name], response)
        if name == "essay":
            assert (answer.score, answer.is_correct, answer.grade_status) == (None, None, GradeStatus.PENDING)
        else:
            expected = (bank[name].score, True, GradeStatus.AUTO)
            assert (answer.score, answer.is_correct, answer.grade_status) == expected, name
    assert Answer.objects.filter(session=session).count() == len(RIGHT) - 1


def test_the_same_answer_saved_twice_is_one_row(alice, exam, bank):
    session = session_start(user=alice, paper=exam)
    first = save(alice, session, bank["fill"], ["北京", "上海"], client_seq=1)
    again = save(alice, session, bank["fill"], ["北京", "上海"], client_seq=1)
    assert first.pk == again.pk
    assert Answer.objects.filter(session=session).count() == 1
    assert (again.response, again.response_data, again.score) == ("北京；上海", ["北京", "上海"], D("2.00"))


def test_an_older_save_arriving_late_is_ignored(alice, exam, bank):
    session = session_start(user=alice, paper=exam)
    save(alice, session, bank["single"], "B", client_seq=5)
    stale = save(alice, session, bank["single"], "A", client_seq=4)
    assert (stale.response, stale.client_seq) == ("B", 5)
    assert Answer.objects.get(session=session).response == "B"


def test_two_tabs_interleaved_the_newest_save_wins(alice, exam, bank):
    session = session_start(user=alice, paper=exam)
    tab_one, tab_two = itertools.count(1, 2), itertools.count(2, 2)  # both stamp saves from one clock
    save(alice, session, bank["single"], "A", client_seq=next(tab_one))  # 1
    save(alice, session, bank["single"], "C", client_seq=next(tab_two))  # 2
    save(alice, session, bank["single"], "D", client_seq=next(tab_one) + 2)  # 5
    save(alice, session, bank["single"], "B", client_seq=next(tab_two))  # 4 arrives after 5
    answer = Answer.objects.get(session=session)
    assert (answer.response, answer.client_seq) == ("D", 5)


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_of_one_item_make_exactly_one_row(alice, bank):
    paper = paper_create(title="并发", questions=[bank["single"]])
    session = session_start(user=alice, paper=paper)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def save_from_a_thread(seq: int) -> None:
        try:
            barrier.wait()
            session_answer_save(user=alice, session_id=session.pk, position=1, response="ABCD"[seq % 4], client_seq=seq)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save_from_a_thread, args=(seq,)) for seq in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    answer = Answer.objects.get(session=session)
    assert answer.client_seq == 6 and answer.response == "ABCD"[6 % 4]


def test_a_response_the_question_does_not_offer_is_refused_with_its_field(alice, exam, bank):
    session = session_start(user=alice, paper=exam)
    with pytest.raises(ApplicationError) as error:
        save(alice, session, bank["single"], "Z")
    assert error.value.extra == {"field": "response", "position": position_of(session, bank["single"])}
    with pytest.raises(ApplicationError) as error:
        session_answer_save(user=alice, session_id=session.pk, position=99, response="A")
    assert error.value.extra["field"] == "position"
    assert not Answer.objects.exists()


def test_another_students_session_does_not_exist_for_them(alice, bob, exam, bank):
    session = session_start(user=alice, paper=exam)
    with refused("not_found"):
        save(bob, session, bank["single"], "B")
    with refused("not_found"):
        session_finish(user=bob, session_id=session.pk)


def test_sequential_navigation(alice, bank):
    paper = paper_create(
        title="顺序作答", questions=[bank["single"], bank["true_false"], bank["short"]], navigation="sequential"
    )
    session = session_start(user=alice, paper=paper)
    with refused("sequential"):
        session_answer_save(user=alice, session_id=session.pk, position=2, response="对")
    session_answer_save(user=alice, session_id=session.pk, position=1, response="B")
    assert session_advance(user=alice, session_id=session.pk).current_position == 2
    with refused("sequential"):
        session_answer_save(user=alice, session_id=session.pk, position=1, response="A")  # no way back
    session_answer_save(user=alice, session_id=session.pk, position=2, response="对")
    session_advance(user=alice, session_id=session.pk)
    assert session_advance(user=alice, session_id=session.pk).current_position == 3  # stays on the last
    assert Answer.objects.get(item__position=1).response == "B"


def test_shuffled_options_differ_per_session_and_grading_follows_the_key(django_user_model, bank):
    question = make_question(
        QuestionType.SINGLE_CHOICE, options=options("一", "二", "三", "四", "五", "六"), answer="E", score=2
    )
    paper = paper_create(title="乱序", questions=[question], shuffle_options=True, attempts_allowed=0)
    students = [django_user_model.objects.create_user(f"student{n}") for n in range(8)]
    orders = set()
    for student in students:
        session = session_start(user=student, paper=paper)
        item = session.items.get()
        shown = session_view(session)["items"][0]["options"]
        assert [option["key"] for option in shown] == item.option_order
        assert {option["key"]: option["text"] for option in shown} == dict(zip("ABCDEF", "一二三四五六", strict=True))
        orders.add(tuple(item.option_order))
        # The student picks the option whose text is 五 wherever it is shown: its key, not its place.
        chosen = next(option["key"] for option in shown if option["text"] == "五")
        answer = session_answer_save(user=student, session_id=session.pk, position=1, response=chosen)
        assert (answer.score, answer.is_correct) == (D("2.00"), True)
        shown_first = shown[0]["key"]
        if shown_first != "E":
            wrong = session_answer_save(user=student, session_id=session.pk, position=1, response=shown_first)
            assert wrong.is_correct is False
    assert len(orders) > 1  # 8 students sharing one order of 6 options: (1/720)^7


def test_options_keep_their_order_without_shuffle(alice, exam, bank):
    session = session_start(user=alice, paper=exam)
    assert session.items.get(question=bank["single"]).option_order == ["A", "B", "C", "D"]


# --- random papers -------------------------------------------------------------------------------


def test_random_paper_draws_each_rules_count_and_students_draw_differently(alice, bob, demo_bank):
    paper = paper_create_random(
        title="随机组卷",
        rules=[RuleSpec(count=10, score=D(2), subject="数学/几何"), RuleSpec(count=5, subject="数学/四则运算")],
    )
    draws = []
    for student in (alice, bob):
        session = session_start(user=student, paper=paper)
        items = list(session.items.select_related("question__subject"))
        assert [item.question.subject.path for item in items] == ["数学/几何"] * 10 + ["数学/四则运算"] * 5
        assert [item.score for item in items] == [D("2.00")] * 10 + [D("1.00")] * 5
        assert len({item.question_id for item in items}) == 15 and session.max_score == D("25.00")
        draws.append([item.question_id for item in items])
    assert draws[0] != draws[1]  # the same 10 of 25 for both: 1 in 3 268 760


def test_random_draw_is_reproducible_from_the_sessions_seed(alice, demo_bank):
    import random

    from quizbank.services.sessions import _draw

    paper = paper_create_random(title="随机", rules=[RuleSpec(count=5, subject="数学/几何")])
    session = session_start(user=alice, paper=paper)
    redrawn = [question.pk for question, _ in _draw(paper, random.Random(session.seed))]
    assert redrawn == [item.question_id for item in session.items.all()]


def test_a_rule_asking_for_more_than_the_bank_has_is_refused_at_creation(demo_bank):
    with pytest.raises(ApplicationError, match="asks for 26 questions but the bank has 25") as error:
        paper_create_random(title="太多", rules=[RuleSpec(count=26, subject="数学/几何")])
    assert error.value.extra == {"rule": 1, "available": 25}
    assert not Paper.objects.exists()
    with pytest.raises(ApplicationError, match="no subject"):
        paper_create_random(title="没有的学科", rules=[RuleSpec(count=1, subject="物理")])
    with pytest.raises(ApplicationError, match="count"):
        paper_create_random(title="零题", rules=[RuleSpec(count=0)])


def test_overlapping_rules_must_be_drawable_together(alice, demo_bank):
    # 90 of 数学 may take every 几何 question: the second rule could find none left.
    with pytest.raises(ApplicationError, match="rule 2") as error:
        paper_create_random(
            title="重叠", rules=[RuleSpec(count=90, subject="数学"), RuleSpec(count=20, subject="数学/几何")]
        )
    assert error.value.extra["available"] == 0
    # The narrow rule first leaves 90 for the broad one.
    paper = paper_create_random(
        title="重叠但够", rules=[RuleSpec(count=10, subject="数学/几何"), RuleSpec(count=80, subject="数学")]
    )
    items = session_start(user=alice, paper=paper).items.all()
    assert len({item.question_id for item in items}) == 90


# --- finishing -----------------------------------------------------------------------------------


@pytest.fixture
def grading_requests():
    """The answer ids announced by answers_need_grading."""
    announced: list[list[int]] = []

    def receiver(sender, answer_ids, **kwargs):
        announced.append(sorted(answer_ids))

    answers_need_grading.connect(receiver, dispatch_uid="test-sessions")
    yield announced
    answers_need_grading.disconnect(dispatch_uid="test-sessions")


def test_finish_scores_fills_unanswered_counts_pending_and_announces_after_commit(
    alice, exam, bank, grading_requests, django_capture_on_commit_callbacks
):
    session = session_start(user=alice, paper=exam)
    for name in ("single", "multiple", "fill", "matching", "essay"):
        save(alice, session, bank[name], RIGHT[name])
    save(alice, session, bank["short"], "呼吸作用")  # no accepted answer matches: a teacher reviews it
    save(alice, session, bank["numerical"], "2.71")  # wrong
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        finished = session_finish(user=alice, session_id=session.pk)
    assert grading_requests == []  # nothing is announced before the commit
    for callback in callbacks:
        callback()

    assert (finished.state, finished.finished_by) == (SessionState.FINISHED, "student")
    assert finished.score == D("11.00")  # 2 + 4 + 2 + 3; the essay is not graded yet
    assert finished.max_score == D("27.00")
    assert finished.pending_count == 2
    answers = {answer.question_id: answer for answer in Answer.objects.filter(session=session)}
    assert len(answers) == len(bank)
    for name in ("true_false", "cloze", "description"):
        unanswered = answers[bank[name].pk]
        assert (unanswered.response, unanswered.score, unanswered.is_correct) == ("", D("0.00"), False)
    pending = sorted(answers[bank[name].pk].pk for name in ("essay", "short"))
    assert grading_requests == [pending]
    assert answers[bank["essay"].pk].grade_status == GradeStatus.PENDING
    assert answers[bank["short"].pk].grade_status == GradeStatus.NEEDS_REVIEW


def test_an_empty_essay_needs_no_grading(alice, bank, grading_requests, django_capture_on_commit_callbacks):
    paper = paper_create(title="作文", questions=[bank["essay"]])
    session = session_start(user=alice, paper=paper)
    save(alice, session, bank["essay"], "   ")
    with django_capture_on_commit_callbacks(execute=True):
        finished = session_finish(user=alice, session_id=session.pk)
    assert (finished.score, finished.pending_count, grading_requests) == (D("0.00"), 0, [])


def test_finish_twice_returns_the_finished_session(
    alice, exam, bank, grading_requests, django_capture_on_commit_callbacks
):
    session = session_start(user=alice, paper=exam)
    save(alice, session, bank["essay"], "论述")
    with django_capture_on_commit_callbacks(execute=True):
        first = session_finish(user=alice, session_id=session.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = session_finish(user=alice, session_id=session.pk)
    assert (second.pk, second.finished_at, second.score) == (first.pk, first.finished_at, first.score)
    assert callbacks == [] and len(grading_requests) == 1
    assert Answer.objects.filter(session=session).count() == len(bank)
    with refused("not_open"):
        save(alice, session, bank["single"], "B")


# --- teacher grading -----------------------------------------------------------------------------


@pytest.fixture
def graded_later(alice, bank):
    """alice's finished attempt with an essay (10 points) waiting for a grade, and a right single choice."""
    paper = paper_create(title="论述", questions=[bank["single"], bank["essay"]])
    session = session_start(user=alice, paper=paper)
    save(alice, session, bank["single"], "B")
    save(alice, session, bank["essay"], "我的论述")
    session_finish(user=alice, session_id=session.pk)
    return session, Answer.objects.get(session=session, question=bank["essay"])


def test_answer_grade_scores_keeps_the_original_and_recomputes_the_session(carol, graded_later):
    session, essay = graded_later
    session.refresh_from_db()
    assert (session.score, session.pending_count) == (D("2.00"), 1)
    graded = answer_grade(answer_id=essay.pk, score=D("7.5"), feedback=" 论点清楚 ", grader=carol)
    assert (graded.score, graded.is_correct, graded.grade_status) == (D("7.50"), False, GradeStatus.TEACHER)
    assert (graded.original_score, graded.original_status) == (None, GradeStatus.PENDING)
    assert (graded.feedback, graded.graded_by) == ("论点清楚", carol)
    session.refresh_from_db()
    assert (session.score, session.pending_count) == (D("9.50"), 0)

    regraded = answer_grade(answer_id=essay.pk, score=10, grader=carol)
    assert (regraded.score, regraded.is_correct) == (D("10.00"), True)
    assert (regraded.original_score, regraded.original_status) == (None, GradeStatus.PENDING)  # still the first
    session.refresh_from_db()
    assert session.score == D("12.00")


def test_answer_grade_overriding_the_key_keeps_the_keys_score(alice, carol, bank):
    paper = paper_create(title="改分", questions=[bank["single"]])
    session = session_start(user=alice, paper=paper)
    save(alice, session, bank["single"], "A")
    session_finish(user=alice, session_id=session.pk)
    answer = answer_grade(answer_id=Answer.objects.get(session=session).pk, score=1, grader=carol)
    assert (answer.original_score, answer.original_status, answer.score) == (D("0.00"), GradeStatus.AUTO, D("1.00"))


@pytest.mark.parametrize("score", [-1, "10.01", 11, "abc", "NaN", "Infinity", None])
def test_answer_grade_refuses_a_score_out_of_range(carol, graded_later, score):
    session, essay = graded_later
    with pytest.raises(ApplicationError) as error:
        answer_grade(answer_id=essay.pk, score=score, grader=carol)
    assert error.value.extra == {"field": "score"}
    essay.refresh_from_db()
    assert (essay.score, essay.grade_status) == (None, GradeStatus.PENDING)


def test_answer_grade_refuses_open_abandoned_and_unknown(alice, bob, carol, bank, now):
    paper = paper_create(title="进行中", questions=[bank["single"]], time_limit_seconds=60, overdue_rule="abandon")
    session = session_start(user=alice, paper=paper, now=now)
    answer = save(alice, session, bank["single"], "B", now=now)
    with refused("session_open"):
        answer_grade(answer_id=answer.pk, score=1, grader=carol)
    sessions_sweep(now=now + timedelta(minutes=2))
    with refused("not_open"):
        answer_grade(answer_id=answer.pk, score=1, grader=carol)
    with refused("not_found"):
        answer_grade(answer_id=answer.pk + 1000, score=1, grader=carol)
    with pytest.raises(ApplicationError, match="status"):
        answer_grade(answer_id=answer.pk, score=1, grader=carol, status=GradeStatus.AUTO)


def test_a_late_model_grade_does_not_replace_the_teachers(carol, graded_later):
    session, essay = graded_later
    answer_grade(answer_id=essay.pk, score=6, grader=carol)
    late = answer_grade(answer_id=essay.pk, score=9, grader=None, status=GradeStatus.MODEL)
    assert (late.score, late.grade_status, late.graded_by) == (D("6.00"), GradeStatus.TEACHER, carol)


def test_model_grade_then_teacher_override(carol, graded_later):
    session, essay = graded_later
    by_model = answer_grade(answer_id=essay.pk, score=8, grader=None, status=GradeStatus.MODEL)
    assert (by_model.grade_status, by_model.graded_by, by_model.original_status) == (
        GradeStatus.MODEL,
        None,
        GradeStatus.PENDING,
    )
    by_teacher = answer_grade(answer_id=essay.pk, score=5, grader=carol)
    assert (by_teacher.score, by_teacher.grade_status, by_teacher.original_status) == (
        D("5.00"),
        GradeStatus.TEACHER,
        GradeStatus.PENDING,
    )


@pytest.mark.parametrize(("method", "expected"), [("highest", "4.00"), ("last", "3.00"), ("average", "2.67")])
def test_paper_grade_by_grading_method(alice, bob, carol, bank, method, expected):
    paper = paper_create(title="多次作答", questions=[bank["multiple"]], attempts_allowed=0, grading_method=method)
    assert paper_grade(paper=paper, user=alice) is None
    for response in (["A", "C"], ["A"], ["A"]):  # 4, then 1 twice (漏选)
        session = session_start(user=alice, paper=paper)
        save(alice, session, bank["multiple"], response)
        session_finish(user=alice, session_id=session.pk)
    answer_grade(answer_id=Answer.objects.get(session=session).pk, score=3, grader=carol)  # the last: 3
    session_start(user=alice, paper=paper)  # an attempt in progress counts for nothing
    assert paper_grade(paper=paper, user=alice) == D(expected)
    assert paper_grade(paper=paper, user=bob) is None


# --- practice mode -------------------------------------------------------------------------------


@pytest.fixture
def practice(bank) -> Paper:
    return paper_create(
        title="练习", questions=[bank["single"], bank["fill"]], mode=PaperMode.PRACTICE, attempts_allowed=0
    )


def test_practice_a_checked_question_cannot_be_changed(alice, practice, bank):
    session = session_start(user=alice, paper=practice)
    checked = save(alice, session, bank["single"], "A")
    assert (checked.is_correct, checked.score) == (False, D("0.00"))
    view = session_view(session)["items"][0]
    assert view["correct"] is False and view["key"]["correct_options"] == ["B"]
    assert session_view(session)["items"][1].keys().isdisjoint({"correct", "key", "explanation"})
    assert save(alice, session, bank["single"], "A").pk == checked.pk  # the same check sent again
    with refused("checked"):
        save(alice, session, bank["single"], "B")
    assert Answer.objects.get(session=session).response == "A"


def test_practice_an_empty_check_is_refused(alice, practice, bank):
    session = session_start(user=alice, paper=practice)
    for blank in ("", "  ", None, ["", ""]):
        with pytest.raises(ApplicationError, match="give an answer"):
            save(alice, session, bank["fill"], blank)
    assert not Answer.objects.exists() and not WrongBookEntry.objects.exists()
    assert save(alice, session, bank["fill"], ["北京", "上海"]).is_correct is True


# --- the wrong-answer book -----------------------------------------------------------------------


def exam_attempt(user, paper, responses: dict, *, now) -> QuizSession:
    session = session_start(user=user, paper=paper, now=now)
    for question, response in responses.items():
        save(user, session, question, response, now=now)
    return session_finish(user=user, session_id=session.pk, now=now)


def test_wrong_exam_answers_enter_the_book(alice, bank, now):
    paper = paper_create(
        title="单元测验",
        questions=[bank["single"], bank["true_false"], bank["numerical"], bank["short"], bank["essay"]],
        attempts_allowed=0,
        review_correctness="immediately",
    )
    exam_attempt(alice, paper, {bank["single"]: "A", bank["true_false"]: "对", bank["short"]: "叶绿素"}, now=now)
    entries = {entry.question_id: entry for entry in WrongBookEntry.objects.filter(user=alice)}
    # Right answers, unanswered questions and answers still waiting for a teacher stay out.
    assert set(entries) == {bank["single"].pk}
    entry = entries[bank["single"].pk]
    assert (entry.times_wrong, entry.first_wrong_at, entry.last_wrong_at, entry.last_response) == (1, now, now, "A")

    later = now + timedelta(days=1)
    exam_attempt(alice, paper, {bank["single"]: "C"}, now=later)
    entry.refresh_from_db()
    assert (entry.times_wrong, entry.first_wrong_at, entry.last_wrong_at, entry.last_response) == (2, now, later, "C")
    assert list(wrong_book_of(user=alice)) == [entry]


def test_the_book_keeps_mistakes_quiet_while_the_exam_hides_right_and_wrong(alice, bank, now):
    paper = paper_create(title="期中", questions=[bank["single"]], close_at=now + timedelta(hours=2))
    exam_attempt(alice, paper, {bank["single"]: "A"}, now=now)
    assert WrongBookEntry.objects.filter(user=alice).count() == 1
    assert list(wrong_book_of(user=alice, now=now)) == []
    assert [e.question_id for e in wrong_book_of(user=alice, now=now + timedelta(hours=3))] == [bank["single"].pk]


def test_a_graded_wrong_answer_enters_the_book_when_graded(alice, carol, graded_later, bank):
    session, essay = graded_later
    assert not WrongBookEntry.objects.exists()
    answer_grade(answer_id=essay.pk, score=3, grader=carol)
    assert WrongBookEntry.objects.get(user=alice).question_id == bank["essay"].pk
    answer_grade(answer_id=essay.pk, score=4, grader=carol)  # a regrade is not a new mistake
    assert WrongBookEntry.objects.get(user=alice).times_wrong == 1


def test_right_answers_in_practice_master_an_entry_and_a_new_mistake_resets_it(alice, bank, settings, now):
    settings.WRONG_BOOK_MASTERED_AFTER = 2
    # The exam shows its key on submission: alice, having submitted, may practise its question while it is open.
    exam = paper_create(
        title="测验",
        questions=[bank["single"]],
        attempts_allowed=0,
        review_correctness="immediately",
        review_answer="immediately",
    )
    drill = paper_create(title="练习", questions=[bank["single"]], mode=PaperMode.PRACTICE, attempts_allowed=0)

    def practise(response, hours) -> WrongBookEntry:
        at = now + timedelta(hours=hours)
        session = session_start(user=alice, paper=drill, now=at)
        save(alice, session, bank["single"], response, now=at)
        session_finish(user=alice, session_id=session.pk, now=at)
        return WrongBookEntry.objects.get(user=alice, question=bank["single"])

    exam_attempt(alice, exam, {bank["single"]: "D"}, now=now)
    exam_attempt(alice, exam, {bank["single"]: "B"}, now=now)  # right in an exam: no streak
    entry = WrongBookEntry.objects.get(user=alice)
    assert (entry.times_wrong, entry.right_streak, entry.mastered_at) == (1, 0, None)

    entry = practise("B", 1)
    assert (entry.right_streak, entry.mastered_at) == (1, None)
    entry = practise("B", 2)
    assert (entry.right_streak, entry.mastered_at) == (2, now + timedelta(hours=2))
    assert list(wrong_book_of(user=alice)) == []
    assert list(wrong_book_of(user=alice, include_mastered=True)) == [entry]
    assert practise("B", 3).mastered_at == now + timedelta(hours=2)  # mastered stays mastered

    entry = practise("C", 4)
    assert (entry.times_wrong, entry.right_streak, entry.mastered_at) == (2, 0, None)
    assert (entry.last_wrong_at, entry.last_response, entry.first_wrong_at) == (now + timedelta(hours=4), "C", now)
    assert list(wrong_book_of(user=alice)) == [entry]


def test_wrong_book_practice_paper_is_personal(alice, bob, bank, now):
    exam = paper_create(
        title="测验", questions=[bank["single"], bank["true_false"]], review_answer="immediately", attempts_allowed=0
    )
    exam_attempt(alice, exam, {bank["single"]: "A", bank["true_false"]: "错"}, now=now)
    paper = wrong_book_practice_create(user=alice)
    assert (paper.owner, paper.mode, paper.created_by) == (alice, PaperMode.PRACTICE, alice)
    assert sorted(item.question_id for item in paper.items.all()) == sorted([bank["single"].pk, bank["true_false"].pk])
    assert paper in papers_for_student(user=alice)
    assert paper not in papers_for_student(user=bob)
    with refused("not_available"):
        session_start(user=bob, paper=paper)
    assert session_start(user=alice, paper=paper).paper.mode == PaperMode.PRACTICE
    with refused("empty"):
        wrong_book_practice_create(user=bob)


def test_wrong_book_practice_leaves_out_questions_whose_exam_still_hides_the_key(alice, bank, now):
    open_exam = paper_create(title="期末（未结束）", questions=[bank["single"]], review_answer="after_close")
    exam_attempt(alice, open_exam, {bank["single"]: "A"}, now=now)
    with refused("empty") as error:
        wrong_book_practice_create(user=alice, now=now)
    assert error.value.extra["locked"] == 1
    paper_update(paper=open_exam, open_at=now - timedelta(days=2), close_at=now - timedelta(days=1))
    assert [item.question_id for item in wrong_book_practice_create(user=alice, now=now).items.all()] == [
        bank["single"].pk
    ]


def test_a_paper_saved_or_deleted_is_not_started_from_what_was_remembered_of_it(alice, demo_bank):
    """A fixed paper's questions are remembered for a few seconds per process; saving or deleting the
    paper forgets them, as changing its questions does. (SQLite gives a new paper the id of the newest
    one deleted, and a paper's questions are written in bulk, which sends no signal.)"""
    from quizbank.models import PaperQuestion

    paper = paper_create(title="记忆", questions=demo_bank[:2], attempts_allowed=0)
    first = session_start(user=alice, paper=paper)
    assert [item.question_id for item in first.items.order_by("position")] == [q.pk for q in demo_bank[:2]]
    session_finish(user=alice, session_id=first.pk)

    PaperQuestion.objects.filter(paper=paper, position=2).update(question=demo_bank[5])  # no signal
    paper.title = "记忆（改）"
    paper.save()
    second = session_start(user=alice, paper=paper)
    assert [item.question_id for item in second.items.order_by("position")] == [demo_bank[0].pk, demo_bank[5].pk]
    session_finish(user=alice, session_id=second.pk)

    from quizbank.selectors.papers import fixed_paper_slots

    gone = paper_create(title="将删除", questions=demo_bank[6:8], attempts_allowed=0)
    assert len(fixed_paper_slots(paper=gone)) == 2  # remembered
    gone_id = gone.pk
    gone.delete()
    gone.pk = gone_id  # the id SQLite would give the next paper
    assert fixed_paper_slots(paper=gone) == []
