"""The demo school: three users in their role groups, a timed exam over every question type and a
practice paper. Safe to run again: questions are found by their text, papers by their title."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from quizbank.models import Paper, PaperMode, Question, QuestionType
from quizbank.services import paper_create, paper_update, question_create

ROLE_GROUPS = ("student", "teacher", "admin")
DEMO_USERS = {"student1": "student", "teacher1": "teacher", "admin1": "admin"}
DEMO_PAPER_TITLE = "演示测验"
DEMO_PRACTICE_TITLE = "演示练习"
DEMO_SUBJECT = "演示/综合"
# Questions of the imported demo bank added to the practice paper. The exam has only its own
# questions: practice shows the key, so an exam question there would give the exam away, and the
# bank's questions stay free to practise one by one.
DEMO_BANK_IN_PRACTICE = 8

REVIEW_EVERYTHING_NOW = {
    "review_score": "immediately",
    "review_correctness": "immediately",
    "review_answer": "immediately",
    "review_explanation": "immediately",
}
DEMO_EXAM_SETTINGS = {"time_limit_seconds": 20 * 60, "attempts_allowed": 0, **REVIEW_EVERYTHING_NOW}
DEMO_PRACTICE_SETTINGS = {"mode": PaperMode.PRACTICE, "attempts_allowed": 0, **REVIEW_EVERYTHING_NOW}


def _question(qtype: str, stem: str, **fields) -> dict:
    return {"subject": DEMO_SUBJECT, "qtype": qtype, "stem": stem, **fields}


# One question of every type, in the order the exam shows them.
DEMO_EXAM_QUESTIONS: list[dict] = [
    _question(
        QuestionType.DESCRIPTION, "本测验包含各种题型，限时 20 分钟。答案会自动保存，时间到时自动交卷。", score=0
    ),
    _question(
        QuestionType.SINGLE_CHOICE,
        "已知 $f(x)=x^2+1$，则 $f(2)$ 等于多少？",
        options=[
            {"key": "A", "text": "3"},
            {"key": "B", "text": "4"},
            {"key": "C", "text": "5"},
            {"key": "D", "text": "6"},
        ],
        answer="C",
        explanation="$f(2)=2^2+1=5$，故选 C。",
        score=2,
    ),
    _question(
        QuestionType.MULTIPLE_CHOICE,
        "下列哪些数是质数？",
        options=[
            {"key": "A", "text": "2"},
            {"key": "B", "text": "4"},
            {"key": "C", "text": "7"},
            {"key": "D", "text": "9"},
        ],
        answer="AC",
        explanation="2 和 7 只有 1 和自身两个因数；4 = 2×2，9 = 3×3。",
        score=2,
        partial_score=1,
    ),
    _question(QuestionType.TRUE_FALSE, "0 是偶数。", answer="true", explanation="0 能被 2 整除，所以 0 是偶数。"),
    _question(
        QuestionType.FILL_BLANK,
        "中国的首都是____，山西省的省会是____。",
        answer="北京；太原",
        answer_data={"blanks": [{"answers": ["北京", "北京市", "Beijing"]}, {"answers": ["太原", "太原市"]}]},
        explanation="首都北京；山西省会太原。",
        score=2,
    ),
    _question(
        QuestionType.NUMERICAL,
        r"$\sqrt{2}$ 约等于多少？（误差不超过 0.01）",
        answer="1.414",
        answer_data={"answers": [{"value": 1.414, "tolerance": 0.01, "fraction": 1.0}]},
        explanation=r"$\sqrt{2}\approx 1.41421$。",
    ),
    _question(
        QuestionType.MATCHING,
        "把国家和它的首都配对。",
        answer="法国 → 巴黎；日本 → 东京；埃及 → 开罗",
        answer_data={
            "pairs": [
                {"left": "法国", "right": "巴黎"},
                {"left": "日本", "right": "东京"},
                {"left": "埃及", "right": "开罗"},
            ],
            "distractors": ["悉尼"],
        },
        explanation="悉尼不是首都：澳大利亚的首都是堪培拉。",
        score=3,
    ),
    _question(
        QuestionType.SHORT_ANSWER,
        "水的化学式是什么？",
        answer="H2O",
        answer_data={"answers": [{"text": "H2O", "fraction": 1.0}, {"text": "H₂O", "fraction": 1.0}]},
        explanation="一个水分子由两个氢原子和一个氧原子构成：H₂O。",
    ),
    _question(
        QuestionType.CLOZE,
        "一年有 {#1} 个月，其中最短的是 {#2}。",
        answer="12；二月",
        answer_data={
            "subquestions": [
                {"type": "numerical", "weight": 1, "answers": [{"value": 12, "tolerance": 0, "fraction": 1.0}]},
                {
                    "type": "single_choice",
                    "weight": 1,
                    "options": [
                        {"key": "A", "text": "一月", "fraction": 0},
                        {"key": "B", "text": "二月", "fraction": 1.0},
                        {"key": "C", "text": "六月", "fraction": 0},
                    ],
                },
            ]
        },
        explanation="一年 12 个月；二月只有 28 或 29 天。",
        score=2,
    ),
    _question(
        QuestionType.ESSAY,
        "用一段话说明为什么要节约用水。",
        answer="淡水资源有限、分布不均，节约用水能保护环境、保障生活与生产。",
        answer_data={
            "rubric": [
                {"id": "reason", "criterion": "说出至少一个理由（资源有限、分布不均等）", "points": 3},
                {"id": "clarity", "criterion": "表达清楚、通顺", "points": 2},
            ]
        },
        score=5,
    ),
]

DEMO_PRACTICE_QUESTIONS: list[dict] = [
    _question(QuestionType.TRUE_FALSE, "1 是质数。", answer="false", explanation="质数有且只有两个因数；1 只有一个。"),
    _question(
        QuestionType.FILL_BLANK,
        "一个三角形的内角和是____度。",
        answer="180",
        answer_data={"blanks": [{"answers": ["180", "180°", "一百八十"]}]},
        explanation="三角形内角和为 180°。",
    ),
]


@dataclass(frozen=True)
class DemoSeed:
    usernames: list[str]
    paper: Paper
    practice: Paper


def demo_question(data: dict) -> Question:
    """The current question with this type and text, created on first use."""
    found = Question.objects.filter(is_current=True, qtype=data["qtype"], stem=data["stem"]).first()
    return found or question_create(data=data)


def _paper(title: str, questions: list[Question], created_by, settings: dict) -> Paper:
    """The public paper with this title: created, or brought up to date while nobody has taken it."""
    paper = Paper.objects.filter(title=title, owner__isnull=True).first()
    if paper is not None and not paper.sessions.exists():
        if list(paper.items.values_list("question_id", flat=True)) != [q.pk for q in questions]:
            paper.delete()
            paper = None
    if paper is None:
        return paper_create(title=title, questions=questions, created_by=created_by, **settings)
    return paper_update(paper=paper, **settings)


@transaction.atomic
def demo_seed(*, password: str) -> DemoSeed:
    User = get_user_model()
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLE_GROUPS}
    for username, role in DEMO_USERS.items():
        user, _ = User.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = role in ("teacher", "admin")
        user.is_superuser = role == "admin"
        user.save()
        user.groups.add(groups[role])
    teacher = User.objects.get(username="teacher1")
    bank = list(
        Question.objects.filter(qtype=QuestionType.SINGLE_CHOICE, is_current=True)
        .exclude(subject__path=DEMO_SUBJECT)
        .order_by("id")[:DEMO_BANK_IN_PRACTICE]
    )
    exam_questions = [demo_question(data) for data in DEMO_EXAM_QUESTIONS]
    practice_questions = [demo_question(data) for data in DEMO_PRACTICE_QUESTIONS] + bank
    exam = _paper(DEMO_PAPER_TITLE, exam_questions, teacher, DEMO_EXAM_SETTINGS)
    practice = _paper(DEMO_PRACTICE_TITLE, practice_questions, teacher, DEMO_PRACTICE_SETTINGS)
    return DemoSeed(usernames=list(DEMO_USERS), paper=exam, practice=practice)
