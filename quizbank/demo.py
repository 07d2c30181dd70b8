"""The demo school: three users in their role groups and one exam over the demo bank."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from quizbank.models import Paper, Question
from quizbank.services import paper_create

ROLE_GROUPS = ("student", "teacher", "admin")
DEMO_USERS = {"student1": "student", "teacher1": "teacher", "admin1": "admin"}
DEMO_PAPER_TITLE = "演示测验"
DEMO_PAPER_SIZE = 10


@dataclass(frozen=True)
class DemoSeed:
    usernames: list[str]
    paper: Paper


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
    paper = Paper.objects.filter(title=DEMO_PAPER_TITLE).first()
    if paper is None:
        questions = list(Question.objects.filter(qtype="single_choice").order_by("id")[:DEMO_PAPER_SIZE])
        paper = paper_create(
            title=DEMO_PAPER_TITLE, questions=questions, created_by=User.objects.get(username="teacher1")
        )
    return DemoSeed(usernames=list(DEMO_USERS), paper=paper)
