"""The mapping import on the web: a layout no importer knows, read through a mapping proposed from the
file's first records (quizbank/importers/mapping_guess.py), previewed, saved as a profile and imported
through the import job, as `import_questions --map` imports it."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from quizbank.importers.mapping_guess import mapping_fits, mapping_guess, record_fields, sample_records
from quizbank.models import ImportJob, MappingProfile, Question, QuestionType
from quizbank.services import bank_import

pytestmark = pytest.mark.django_db


def agieval_row(n: int) -> dict:
    """A record shaped like AGIEval's: options "(A)…", the answer a letter in `label`, `answer` null."""
    return {
        "passage": None,
        "question": f"If 3x + {n} = {3 * 3 + n}, what is x?",
        "options": ["(A)1", "(B)2", "(C)3", "(D)4"],
        "label": "C",
        "answer": None,
        "other": {"solution": f"3x = 9, so x = 3 (case {n})."},
    }


def tal_row(n: int) -> dict:
    """A record shaped like TAL-SCQ5K's: options [[{"aoVal", "content"}]], answer_value, answer_analysis[0]."""
    return {
        "dataset_name": "prime_math_competition_en_single_choice_8K_dev",
        "qid": n,
        "difficulty": "2",
        "qtype": "单选",
        "problem": f"{n} + 1 = ?",
        "answer_option_list": [[{"aoVal": letter, "content": str(n + offset)}] for offset, letter in enumerate("ABCD")],
        "knowledge_point_routes": ["Overseas Competition->Knowledge Point->Arithmetic"],
        "answer_analysis": [f"{n} + 1 = {n + 1}."],
        "answer_value": "B",
    }


def jsonl(rows) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


@pytest.fixture(autouse=True)
def _imports_in_tmp(settings, tmp_path):
    settings.IMPORT_ROOT = tmp_path / "imports"


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- the guesser ------------------------------------------------------------------------------------


def test_the_guess_for_agieval_imports_it_as_is(tmp_path):
    path = write(tmp_path, "sat-math.jsonl", jsonl(agieval_row(n) for n in range(1, 4)))
    sample = sample_records(path, file_name=path.name)
    guess = mapping_guess(sample)
    assert guess == {
        "format": "jsonl",
        "fields": {
            "stem": "question",
            "options": {"path": "options", "strip_letter": True},
            "answer": {"path": "label", "as": "letters"},  # not `answer`, which is null
            "explanation": "other.solution",
            "type": {"const": "single_choice"},  # one letter each: said, so that "F" is no true/false answer
        },
    }
    report = bank_import(paths=[path], mapping=guess, subject="数学/SAT")
    assert report.created == 3 and not report.errors
    question = Question.objects.get(source_row=2)
    assert question.qtype == QuestionType.SINGLE_CHOICE and question.answer == "C"
    assert [(o["key"], o["text"]) for o in question.options] == [("A", "1"), ("B", "2"), ("C", "3"), ("D", "4")]
    assert question.explanation == "3x = 9, so x = 3 (case 2)." and question.subject.path == "数学/SAT"


def test_the_guess_for_tal_scq5k_imports_it_as_is(tmp_path):
    path = write(tmp_path, "tal.jsonl", jsonl(tal_row(n) for n in range(1, 4)))
    guess = mapping_guess(sample_records(path, file_name=path.name))
    fields = guess["fields"]
    assert fields["stem"] == "problem"
    assert fields["options"] == {"path": "answer_option_list[*][0]", "key": "aoVal", "text": "content"}
    assert fields["answer"] == {"path": "answer_value", "as": "letters"}
    assert (fields["explanation"], fields["type"], fields["difficulty"]) == ("answer_analysis", "qtype", "difficulty")
    assert fields["knowledge_points"] == "knowledge_point_routes" and fields["source"] == "dataset_name"
    report = bank_import(paths=[path], mapping=guess)
    assert report.created == 3 and not report.errors
    question = Question.objects.get(source_row=3)
    assert question.answer == "B" and [o["text"] for o in question.options] == ["3", "4", "5", "6"]
    assert question.explanation == "3 + 1 = 4." and question.difficulty == 2
    assert question.source_dataset == "prime_math_competition_en_single_choice_8K_dev"
    assert question.subject.path == "未分类/tal"  # no subject in the records: the import's default


def test_json_records_are_the_largest_list_and_an_integer_answer_is_an_index(tmp_path):
    document = {
        "meta": {"tags": [{"name": "x"}]},
        "data": {
            "items": [
                {"query": "1 + 1 = ?", "choices": {"A": "1", "B": "2", "C": "3"}, "gold": 1, "category": "数学/加法"},
                {"query": "2 + 2 = ?", "choices": {"A": "4", "B": "5", "C": "6"}, "gold": 0, "category": "数学/加法"},
            ]
        },
    }
    path = write(tmp_path, "bank.json", json.dumps(document, ensure_ascii=False).encode())
    sample = sample_records(path, file_name=path.name)
    guess = mapping_guess(sample)
    assert guess["records"] == "data.items"
    assert guess["fields"] == {
        "stem": "query",
        "options": {"path": ["choices.A", "choices.B", "choices.C"]},
        "answer": {"path": "gold", "as": "index"},
        "subject": "category",
    }
    assert bank_import(paths=[path], mapping=guess).created == 2
    assert Question.objects.get(stem="1 + 1 = ?").answer == "B"


def test_a_table_with_option_columns_and_answer_texts(tmp_path):
    rows = ["题目,选项A,选项B,选项C,正确答案,难度,解析", "1+1=?,1,2,3,2,易,一加一", "2+2=?,3,4,5,4,难,二加二"]
    path = write(tmp_path, "quiz.csv", "\n".join(rows).encode("utf-8"))
    guess = mapping_guess(sample_records(path, file_name=path.name))
    assert guess["fields"] == {
        "stem": "题目",
        "options": {"path": ["选项A", "选项B", "选项C"]},
        "answer": {"path": "正确答案", "as": "text"},  # the option's text, not a letter
        "explanation": "解析",
        "difficulty": "难度",
    }
    assert bank_import(paths=[path], mapping=guess).created == 2
    assert Question.objects.get(stem="2+2=?").answer == "B"


def test_one_based_answers_are_mapped_to_letters_and_options_objects_read_by_key_and_text(tmp_path):
    rows = [
        {"prompt": "Pick two", "candidates": [{"id": "A", "text": "x"}, {"id": "B", "text": "y"}], "target": 2},
        {"prompt": "Pick one", "candidates": [{"id": "A", "text": "x"}, {"id": "B", "text": "y"}], "target": 1},
    ]
    path = write(tmp_path, "other.jsonl", jsonl(rows))
    fields = mapping_guess(sample_records(path, file_name=path.name))["fields"]
    assert fields["options"] == {"path": "candidates", "key": "id", "text": "text"}
    assert fields["answer"] == {"path": "target", "map": {"1": "A", "2": "B"}, "as": "letters"}
    assert bank_import(paths=[path], mapping={"format": "jsonl", "fields": fields}).created == 2
    assert Question.objects.get(stem="Pick two").answer == "B"


def test_the_fields_of_a_record_and_whether_a_saved_mapping_fits(tmp_path):
    path = write(tmp_path, "tal.jsonl", jsonl([tal_row(1)]))
    sample = sample_records(path, file_name=path.name)
    fields = dict(record_fields(sample.records[0]))
    assert fields["answer_option_list[*][0].content"] == "1" and fields["answer_value"] == "B"
    assert mapping_fits(mapping_guess(sample), sample)
    agieval = sample_records(write(tmp_path, "a.jsonl", jsonl([agieval_row(1)])), file_name="a.jsonl")
    assert not mapping_fits(mapping_guess(sample), agieval)
    assert not mapping_fits({"format": "csv", "fields": {"stem": "problem"}}, sample)


def test_a_file_that_cannot_be_read_says_why(tmp_path):
    sample = sample_records(write(tmp_path, "broken.json", b'{"items": [1, 2'), file_name="broken.json")
    assert sample.records == [] and "not valid JSON" in sample.problem


# --- the page ---------------------------------------------------------------------------------------


def upload_page(client, name: str, data: bytes, **fields):
    return client.post(reverse("bank-import"), {"file": SimpleUploadedFile(name, data), **fields})


def token_of(response) -> str:
    assert response.status_code == 302 and reverse("bank-import-mapping") in response["Location"]
    return response["Location"].split("upload=")[1].split("&")[0]


def test_an_unknown_file_goes_through_proposal_preview_profile_and_import(client, carol):
    client.force_login(carol)
    data = jsonl(tal_row(n) for n in range(1, 13))
    token = token_of(upload_page(client, "tal.jsonl", data, subject="数学/竞赛"))
    assert ImportJob.objects.count() == 0
    page = client.get(reverse("bank-import-mapping"), {"upload": token, "subject": "数学/竞赛"}).content.decode()
    assert "answer_option_list[*][0]" in page and "aoVal" in page  # the proposal, editable
    assert 'id="record-fields"' in page and "prime_math_competition_en_single_choice_8K_dev" in page
    mapping = mapping_guess(sample_records_of(token))
    form = {"upload": token, "mapping": json.dumps(mapping), "subject": "数学/竞赛"}

    preview = client.post(reverse("bank-import-mapping"), {**form, "action": "preview"}).content.decode()
    rows = preview.split('id="preview-questions"')[1].split("</table>")[0]
    assert rows.count("<tr>") == 11  # the header and the first ten questions
    assert "10 + 1 = ?" in rows and "11 + 1 = ?" not in rows and "数学/竞赛" in rows
    assert Question.objects.count() == 0

    saved = client.post(reverse("bank-import-mapping"), {**form, "action": "save", "profile_name": "TAL-SCQ5K"})
    assert saved.status_code == 200 and "TAL-SCQ5K" in saved.content.decode()
    profile = MappingProfile.objects.get(name="TAL-SCQ5K")
    assert profile.mapping == mapping and profile.created_by == carol

    # a second upload of the layout: the profile is preselected and its mapping filled in
    second = token_of(upload_page(client, "tal-more.jsonl", data))
    page = client.get(reverse("bank-import-mapping"), {"upload": second}).content.decode()
    assert 'id="profile-fits"' in page and '<option value="TAL-SCQ5K" selected>' in page

    done = client.post(reverse("bank-import-mapping"), {**form, "action": "import"})
    job = ImportJob.objects.get()
    assert done.status_code == 302 and done["Location"] == reverse("bank-import-status", args=[job.pk])
    assert job.mapping == mapping and job.status == "succeeded" and job.report["created"] == 12
    question = Question.objects.get(stem="3 + 1 = ?")
    assert question.subject.path == "数学/竞赛" and question.answer == "B" and question.source_row == 3
    # the upload is gone with its job: the page no longer offers it
    assert client.get(reverse("bank-import-mapping"), {"upload": token}).status_code == 302


def sample_records_of(token):
    from quizbank.services.mapping_imports import staged_upload

    upload = staged_upload(token=token)
    return sample_records(upload.path, file_name=upload.path.name)


def test_a_bad_mapping_on_preview_names_the_field(client, carol):
    client.force_login(carol)
    token = token_of(upload_page(client, "sat.jsonl", jsonl(agieval_row(n) for n in range(3))))
    mapping = {"format": "jsonl", "fields": {"stem": "question", "answer": {"path": "label", "as": "letter"}}}
    response = client.post(
        reverse("bank-import-mapping"), {"upload": token, "mapping": json.dumps(mapping), "action": "preview"}
    )
    page = response.content.decode()
    assert response.status_code == 400 and "fields.answer.as: unknown &#x27;letter&#x27;" in page
    not_json = client.post(reverse("bank-import-mapping"), {"upload": token, "mapping": "{", "action": "preview"})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.content.decode()


def test_a_preview_shows_row_errors_with_their_rows(client, carol):
    client.force_login(carol)
    rows = [agieval_row(1), {**agieval_row(2), "label": "F"}, agieval_row(3)]
    token = token_of(upload_page(client, "sat.jsonl", jsonl(rows)))
    mapping = mapping_guess(sample_records_of(token))
    page = client.post(
        reverse("bank-import-mapping"), {"upload": token, "mapping": json.dumps(mapping), "action": "preview"}
    ).content.decode()
    errors = page.split('id="preview-errors"')[1].split("</table>")[0]
    assert "<td>2</td><td>answer</td>" in errors and "F" in errors


def test_the_teacher_may_ask_for_a_mapping_for_a_file_an_importer_knows(client, carol):
    client.force_login(carol)
    rows = "题目,类型,答案,选项A,选项B\n1+1=?,单选,B,1,2\n"
    known = client.post(reverse("bank-import"), {"file": SimpleUploadedFile("t.csv", rows.encode())})
    assert known.status_code == 302 and "imports" in known["Location"]  # imported as a table, as before
    asked = upload_page(client, "t2.csv", rows.encode(), format="mapping")
    assert reverse("bank-import-mapping") in asked["Location"]


def test_a_saved_name_is_not_overwritten(client, carol):
    MappingProfile.objects.create(name="AGIEval", mapping={"format": "jsonl", "fields": {"stem": "q"}})
    client.force_login(carol)
    token = token_of(upload_page(client, "sat.jsonl", jsonl([agieval_row(1)])))
    mapping = mapping_guess(sample_records_of(token))
    response = client.post(
        reverse("bank-import-mapping"),
        {"upload": token, "mapping": json.dumps(mapping), "action": "save", "profile_name": "AGIEval"},
    )
    assert response.status_code == 400 and "already named" in response.content.decode()
    assert MappingProfile.objects.get(name="AGIEval").mapping["fields"] == {"stem": "q"}


def test_a_student_is_sent_away(client, alice, carol):
    client.force_login(carol)
    token = token_of(upload_page(client, "sat.jsonl", jsonl([agieval_row(1)])))
    client.force_login(alice)
    for response in (
        client.get(reverse("bank-import-mapping"), {"upload": token}),
        client.post(reverse("bank-import-mapping"), {"upload": token, "mapping": "{}", "action": "import"}),
    ):
        assert response.status_code == 302 and "login" in response["Location"]
    assert ImportJob.objects.count() == 0


# --- the API ----------------------------------------------------------------------------------------


@pytest.fixture
def teacher_api(carol):
    client = APIClient()
    client.force_authenticate(carol)
    return client


def test_the_api_imports_with_a_mapping_or_a_profile(teacher_api, tmp_path):
    data = jsonl(agieval_row(n) for n in range(3))
    mapping = mapping_guess(sample_records(write(tmp_path, "sat.jsonl", data), file_name="sat.jsonl"))
    upload = SimpleUploadedFile("sat.jsonl", data)
    response = teacher_api.post(
        reverse("api-v1-imports"), {"file": upload, "mapping": json.dumps(mapping)}, format="multipart"
    )
    assert response.status_code == 201 and response.json()["report"]["created"] == 3
    assert response.json()["mapping"] == mapping
    MappingProfile.objects.create(name="AGIEval", mapping=mapping)
    more = jsonl(agieval_row(n) for n in range(3, 5))
    response = teacher_api.post(
        reverse("api-v1-imports"), {"file": SimpleUploadedFile("more.jsonl", more), "profile": "AGIEval"}
    )
    assert response.status_code == 201 and response.json()["report"]["created"] == 2


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {"mapping": {"format": "jsonl", "fields": {"stem": "q", "answer": {"path": "a", "as": "x"}}}},
            "mapping",
            "fields.answer.as",
        ),
        ({"mapping": {"format": "jsonl", "fields": {"answer": "label"}}}, "mapping", "fields.stem"),
        ({"profile": "nobody saved this"}, "profile", "no saved mapping"),
        ({"profile": "AGIEval", "mapping": {"format": "jsonl", "fields": {"stem": "q"}}}, "profile", "either"),
        ({"format": "aiken", "mapping": {"format": "jsonl", "fields": {"stem": "q"}}}, "format", "either"),
    ],
)
def test_the_api_refuses_a_bad_mapping_naming_the_field(teacher_api, body, field, words):
    MappingProfile.objects.create(name="AGIEval", mapping={"format": "jsonl", "fields": {"stem": "question"}})
    response = teacher_api.post(reverse("api-v1-imports"), {"text": '{"q": "x"}\n', **body}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["field"] == field and words in response.json()["message"]
    assert ImportJob.objects.count() == 0
