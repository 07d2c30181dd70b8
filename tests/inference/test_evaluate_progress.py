"""evaluate on a terminal: a bar of the items scored out of the suite's size."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from inference.evaluation.suites import HELDOUT
from inference.models import EvalRun
from tests.core.test_progress import terminal

pytestmark = pytest.mark.django_db


def test_evaluate_draws_the_items_scored_of_the_suite_on_a_terminal(demo_bank, base_version):
    out = io.StringIO()
    with terminal() as (stream, read):
        call_command("evaluate", "--version", "base", "--suite", HELDOUT, "--in-process", stdout=out, stderr=stream)
        shown = read()
    n = EvalRun.objects.get(version=base_version).results.count()
    assert re.search(rf"scoring: 100%.*{n}/{n} ", shown), shown
    assert f"{n} items" in out.getvalue()
