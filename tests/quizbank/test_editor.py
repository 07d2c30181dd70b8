"""The question editor: every type written in the browser, edits as new versions, a finished attempt's
review unchanged, the admin site's question pages read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from quizbank.editor_forms import QuestionEditorForm, editor_initial
from quizbank.models import Question, QuestionType
from quizbank.normalize import record_hash
from quizbank.services import paper_create, question_create, session_answer_save, session_finish, session_start

pytestmark = pytest.mark.django_db

COMMON = {
    "subject": "数学/编辑器",
    "stem_format": "markdown",
    "score": "2",
    "difficulty": "",
    "tags": "",
    "explanation": "",
}
# Each type as a teacher fills in the form, and what the bank must keep.
TYPED = {
    QuestionType.SINGLE_CHOICE: (
        {"stem": "$1+1$ 等于几？", "options": "A. 1\nB. 2\nC. 3", "answer": "b"},
        {"answer": "B", "options": [{"key": "A", "text": "1"}, {"key": "B", "text": "2"}, {"key": "C", "text": "3"}]},
    ),
    QuestionType.MULTIPLE_CHOICE: (
        {"stem": "哪些是质数？", "options": "A. 2\nB. 4\nC. 5", "answer": "C,A", "partial_score": "1"},
        {"answer": "AC"},
    ),
    QuestionType.TRUE_FALSE: ({"stem": "地球是圆的。", "truth": "true"}, {"answer": "true"}),
    QuestionType.FILL_BLANK: (
        {"stem": "山西的简称是____。", "blanks": "晋 | 山西\n太原", "order_free": "on"},
        {
            "answer": "晋；太原",
            "answer_data": {
                "blanks": [{"answers": ["晋", "山西"]}, {"answers": ["太原"]}],
                "order_free": True,
                "case_sensitive": False,
            },
        },
    ),
    QuestionType.NUMERICAL: (
        {"stem": "圆周率约为？", "numeric_answers": "3.14 ± 0.01\n3..4 @50%"},
        {
            "answer": "3.14",
            "answer_data": {
                "answers": [
                    {"value": 3.14, "tolerance": 0.01, "fraction": 1.0},
                    {"min": 3, "max": 4, "fraction": 0.5},
                ]
            },
        },
    ),
    QuestionType.MATCHING: (
        {"stem": "连线", "pairs": "中国 => 北京\n日本 => 东京\n=> 首尔"},
        {
            "answer_data": {
                "pairs": [{"left": "中国", "right": "北京"}, {"left": "日本", "right": "东京"}],
                "distractors": ["首尔"],
            }
        },
    ),
    QuestionType.SHORT_ANSWER: (
        {"stem": "水的化学式？", "accepted_answers": "H2O\nh2o @50%", "case_sensitive": "on"},
        {
            "answer": "H2O",
            "answer_data": {
                "answers": [{"text": "H2O", "fraction": 1.0}, {"text": "h2o", "fraction": 0.5}],
                "case_sensitive": True,
            },
        },
    ),
    QuestionType.ESSAY: (
        {
            "stem": "谈谈诚信。",
            "answer": "参考",
            "rubric": "观点明确 | 2\n论证充分 | 3",
            "grading_instructions": "按点",
        },
        {
            "answer": "参考",
            "answer_data": {
                "rubric": [
                    {"id": "c1", "criterion": "观点明确", "points": 2},
                    {"id": "c2", "criterion": "论证充分", "points": 3},
                ],
                "grading_instructions": "按点",
            },
        },
    ),
    QuestionType.CLOZE: (
        {
            "stem": "首都是 {#1}。",
            "answer_data_json": '{"subquestions": [{"type": "short_answer", "weight": 1, '
            '"answers": [{"text": "北京", "fraction": 1.0}]}]}',
        },
        {"answer": "北京"},
    ),
    QuestionType.DESCRIPTION: ({"stem": "以下各题与图有关。", "score": "0"}, {"answer": ""}),
}


@pytest.fixture
def teacher_client(client, carol):
    client.force_login(carol)
    return client


@pytest.mark.parametrize("qtype", list(TYPED))
def test_a_teacher_writes_each_type_in_the_editor_and_edits_it_back(teacher_client, qtype):
    filled, kept = TYPED[qtype]
    response = teacher_client.post(reverse("question-editor-new"), {**COMMON, "qtype": qtype, **filled})
    assert response.status_code == 302, response.content.decode()[:2000]
    question = Question.objects.get()
    for name, value in kept.items():
        assert getattr(question, name) == value, name
    assert question.content_hash == record_hash(question)

    page = teacher_client.get(response["Location"])
    assert page.status_code == 200
    # The form read back from the question saves the same question.
    form = QuestionEditorForm(data={**editor_initial(question), "qtype": qtype}, base=question)
    assert form.is_valid(), form.errors
    data = form.question_data()
    for name, value in kept.items():
        assert data[name] == value, name


def test_a_refused_question_shows_the_reason_at_its_field(teacher_client):
    response = teacher_client.post(
        reverse("question-editor-new"),
        {**COMMON, "qtype": QuestionType.SINGLE_CHOICE, "stem": "题", "options": "A. 甲\nB. 乙", "answer": "D"},
    )
    assert response.status_code == 400
    assert "is not one of the options" in response.context["form"].errors["answer"][0]
    assert not Question.objects.exists()


def _finished_attempt(alice, question):
    paper = paper_create(title="小测", questions=[question], review_answer="immediately")
    attempt = session_start(user=alice, paper=paper)
    session_answer_save(user=alice, session_id=attempt.pk, position=1, response="B")
    session_finish(user=alice, session_id=attempt.pk)
    return attempt


def test_an_edit_of_a_question_a_finished_attempt_used_is_a_new_version(teacher_client, client, alice):
    question = question_create(
        data={
            "subject": "数学/编辑器",
            "qtype": QuestionType.SINGLE_CHOICE,
            "stem": "旧题干：一加一？",
            "options": [{"key": "A", "text": "1"}, {"key": "B", "text": "2"}],
            "answer": "B",
        }
    )
    attempt = _finished_attempt(alice, question)
    review_url = reverse("session-review", args=[attempt.pk])
    student = client.__class__()
    student.force_login(alice)
    before = student.get(review_url)
    assert before.status_code == 200 and "旧题干" in before.content.decode()

    edit = reverse("question-editor", args=[question.pk])
    fields = {**editor_initial(question), "stem": "新题干：一加一等于？", "answer": "B"}
    fields = {key: value for key, value in fields.items() if value not in (None, False)}
    response = teacher_client.post(edit, fields)
    assert response.status_code == 302
    new = Question.objects.get(is_current=True)
    old = Question.objects.get(pk=question.pk)
    assert new.pk != old.pk and new.root_id == old.pk and new.version == 2
    assert not old.is_current and old.stem == "旧题干：一加一？"
    assert new.content_hash == record_hash(new) != old.content_hash
    assert response["Location"] == reverse("question-editor", args=[new.pk])

    after = student.get(review_url).content.decode()
    assert "旧题干" in after and "新题干" not in after
    # The old version's editor opens the current one.
    assert teacher_client.get(edit)["Location"] == reverse("question-editor", args=[new.pk])


def test_an_unused_question_is_edited_in_place(teacher_client):
    question = question_create(
        data={"subject": "数学/编辑器", "qtype": QuestionType.TRUE_FALSE, "stem": "对吗？", "answer": "true"}
    )
    fields = {**editor_initial(question), "truth": "false"}
    fields = {key: value for key, value in fields.items() if value not in (None, False)}
    assert teacher_client.post(reverse("question-editor", args=[question.pk]), fields).status_code == 302
    question.refresh_from_db()
    assert question.answer == "false" and question.version == 1 and question.content_hash == record_hash(question)


def test_the_preview_renders_markdown_and_leaves_latex(teacher_client):
    response = teacher_client.post(
        reverse("question-preview"), {"text": "**粗** $a_1*b_2$ <script>x</script>", "format": "markdown"}
    )
    html = response.json()["html"]
    assert "<strong>粗</strong>" in html and "$a_1*b_2$" in html and "<script>" not in html


def test_students_and_strangers_cannot_open_the_editor(client, alice):
    question = question_create(
        data={"subject": "数学/编辑器", "qtype": QuestionType.TRUE_FALSE, "stem": "对吗？", "answer": "true"}
    )
    urls = [reverse("question-editor-new"), reverse("question-editor", args=[question.pk])]
    for url in urls:
        assert client.get(url).status_code == 302  # to the login page
    client.force_login(alice)
    alice.groups.add(Group.objects.get_or_create(name="student")[0])
    for url in urls:
        assert client.get(url).status_code == 403
        assert client.post(url, {**COMMON, "qtype": "true_false", "stem": "x", "truth": "true"}).status_code == 403
    assert Question.objects.count() == 1


def test_the_admin_site_shows_questions_but_does_not_change_them(admin_client):
    question = question_create(
        data={"subject": "数学/编辑器", "qtype": QuestionType.TRUE_FALSE, "stem": "对吗？", "answer": "true"}
    )
    change = reverse("admin:quizbank_question_change", args=[question.pk])
    page = admin_client.get(change)
    assert page.status_code == 200
    assert reverse("question-editor", args=[question.pk]) in page.content.decode()
    assert admin_client.post(change, {"stem": "改了", "answer": "false"}).status_code == 403
    assert admin_client.get(reverse("admin:quizbank_question_add")).status_code == 403
    question.refresh_from_db()
    assert question.stem == "对吗？"


def test_another_teachers_bank_is_not_edited_without_her_share(client, carol, django_user_model):
    """Banks belong to their teacher: erin neither opens carol's question in the editor nor writes into
    carol's bank; in a bank of her own (new) she writes."""
    question = question_create(
        data={"subject": "卡罗的题库/一", "qtype": QuestionType.TRUE_FALSE, "stem": "对吗？", "answer": "true"}
    )
    question.subject.parent.__class__.objects.filter(path="卡罗的题库").update(owner=carol)
    erin = django_user_model.objects.create_user("erin", password="erin-pass-123")
    erin.groups.add(Group.objects.get_or_create(name="teacher")[0])
    client.force_login(erin)
    assert client.get(reverse("question-editor", args=[question.pk])).status_code == 403
    fields = {**COMMON, "qtype": "true_false", "stem": "新题", "truth": "true"}
    refused = client.post(reverse("question-editor-new"), {**fields, "subject": "卡罗的题库/二"})
    assert refused.status_code == 400 and "another teacher" in str(refused.context["form"].errors)
    assert client.post(reverse("question-editor-new"), {**fields, "subject": "埃琳的题库"}).status_code == 302
    assert Question.objects.count() == 2
