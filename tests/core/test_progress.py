"""The long commands' progress bar: drawn on a terminal's stderr, never into a pipe, a log or --json."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import termios
from contextlib import contextmanager

import pytest
from django.core.management import call_command

from core.progress import counted, progress_bar
from quizbank.services import bank_import

pytestmark = pytest.mark.django_db

AIKEN = """What is 1 + 1?
A. 1
B. 2
ANSWER: B

Which is a prime?
A) 4
B) 7
ANSWER: B

Which is even?
A. 3
B. 8
ANSWER: B
"""
# what tqdm draws: a redraw (carriage return) or a rate such as "12.3 rows/s" or "?rows/s"
BAR_LIKE = re.compile(r"\r|[\d.?]+ ?\w+/s\]")


@contextmanager
def terminal():
    """A pseudo-terminal's writing end as a text file, and a function reading what reached the reader."""
    reader, writer = pty.openpty()
    # 24 rows of 100 columns, as a terminal window has (a new pseudo-terminal has none)
    fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    stream = os.fdopen(writer, "w", encoding="utf-8")
    received = bytearray()

    def read() -> str:
        stream.flush()
        while select.select([reader], [], [], 0.2)[0]:
            chunk = os.read(reader, 65536)
            if not chunk:
                break
            received.extend(chunk)
        return received.decode("utf-8", "replace")

    try:
        yield stream, read
    finally:
        stream.close()
        os.close(reader)


@pytest.fixture
def aiken_file(tmp_path):
    path = tmp_path / "three.txt"
    path.write_text(AIKEN, encoding="utf-8")
    return path


def test_import_questions_draws_the_rows_read_on_a_terminal(aiken_file):
    out = io.StringIO()
    with terminal() as (stream, read):
        call_command("import_questions", str(aiken_file), "--subject", "数学", stdout=out, stderr=stream)
        shown = read()
    assert re.search(r"reading: 3 rows \[", shown), shown
    assert "\x1b[31" not in shown  # drawn plainly, not in stderr's error colour
    assert "created 3" in out.getvalue() and not BAR_LIKE.search(out.getvalue())


def test_no_bar_is_written_when_stderr_is_not_a_terminal(aiken_file):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_questions", str(aiken_file), "--subject", "数学", stdout=out, stderr=err)
    assert "created 3" in out.getvalue()
    assert not BAR_LIKE.search(err.getvalue()) and "reading" not in err.getvalue()


def test_no_bar_with_json_even_on_a_terminal(aiken_file):
    out = io.StringIO()
    with terminal() as (stream, read):
        call_command("import_questions", str(aiken_file), "--subject", "数学", "--json", stdout=out, stderr=stream)
        shown = read()
    assert shown == ""
    assert '"created": 3' in out.getvalue()


def test_export_dataset_draws_the_questions_written_on_a_terminal(aiken_file, tmp_path):
    bank_import(paths=[aiken_file], subject="数学")
    out = io.StringIO()
    with terminal() as (stream, read):
        call_command(
            "export_dataset", "--format", "gift", "--out", str(tmp_path / "bank.gift"), stdout=out, stderr=stream
        )
        shown = read()
    assert re.search(r"writing: 3 questions \[", shown), shown
    assert "wrote 3 questions" in out.getvalue()


def test_a_total_reported_along_the_way_is_shown_as_done_of_total():
    with terminal() as (stream, read):
        with progress_bar(stream=stream, unit="items", description="scoring") as report:
            assert report is not None
            report(0, 8)
            for _ in counted(range(8), report):
                pass
        shown = read()
    assert re.search(r"scoring: 100%.*8/8", shown), shown


def test_the_helper_hands_out_no_callback_when_there_is_nothing_to_draw_on():
    with progress_bar(stream=io.StringIO(), unit="rows") as report:
        assert report is None
    with terminal() as (stream, read):
        with progress_bar(stream=stream, unit="rows", enabled=False) as report:
            assert report is None
        assert read() == ""
    assert list(counted(iter("abc"), None)) == ["a", "b", "c"]
