"""What `submit_vs_bare` compares the answer save with: the project's URLs plus a bare save, a minimal
Django view with the same token authentication and one `INSERT … ON CONFLICT … UPDATE` on the same
table (the later client_seq wins, as in the real save). Served only by the bench's gunicorn
(DJANGO_SETTINGS_MODULE=tests.bench_settings)."""

from __future__ import annotations

import json

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from core.tokens import ExpiringTokenAuthentication
from quizbank.models import Answer
from quizsite.urls import urlpatterns as project_urls

# Every column of the answer table: those the save sets, the rest at their model defaults.
SET_BY_SAVE = {"user", "question", "session", "item", "response_data", "client_seq", "submitted_at", "updated_at"}


def _upsert_sql() -> tuple[str, list]:
    fields = [field for field in Answer._meta.concrete_fields if not field.primary_key]
    defaults = [field for field in fields if field.name not in SET_BY_SAVE]
    columns = ["user_id", "question_id", "session_id", "item_id", "response_data", "client_seq",
               "submitted_at", "updated_at", *(field.column for field in defaults)]  # fmt: skip
    values = [field.get_db_prep_save(field.get_default(), connection) for field in defaults]
    sql = (
        f"INSERT INTO {Answer._meta.db_table} ({', '.join(columns)}) "
        f"SELECT s.user_id, i.question_id, i.session_id, i.id, %s, %s, %s, %s{', %s' * len(defaults)} "
        "FROM quizbank_sessionitem i JOIN quizbank_quizsession s ON s.id = i.session_id "
        "WHERE i.session_id = %s AND i.position = %s AND s.user_id = %s "
        "ON CONFLICT (item_id) DO UPDATE SET response_data = EXCLUDED.response_data, "
        "client_seq = EXCLUDED.client_seq, updated_at = EXCLUDED.updated_at "
        f"WHERE {Answer._meta.db_table}.client_seq <= EXCLUDED.client_seq"
    )
    return sql, values


UPSERT = _upsert_sql()  # once: the URLconf is imported after the apps are ready


@csrf_exempt  # token authentication, as the real save (a DRF view)
def bare_save(request, session_id: int, position: int):
    try:
        authenticated = ExpiringTokenAuthentication().authenticate(Request(request))
    except AuthenticationFailed:
        authenticated = None
    if authenticated is None:
        return HttpResponse(status=401)
    body = json.loads(request.body)
    sql, defaults = UPSERT
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [json.dumps(body["response"]), body["client_seq"], now, now, *defaults,
             session_id, position, authenticated[0].pk],
        )  # fmt: skip
        if cursor.rowcount == 0 and not Answer.objects.filter(session_id=session_id, item__position=position).exists():
            return HttpResponse(status=404)
    return JsonResponse({"client_seq": body["client_seq"]})


urlpatterns = [
    path("bench/bare/sessions/<int:session_id>/answers/<int:position>", bare_save),
    *project_urls,
]
