"""Classes (班级): creating them, enrolling students from a roster file or a join code, assigning
papers to them, and sharing banks and papers between teachers.

A roster is a CSV or xlsx file with the columns 学号, 姓名 and, optionally, 班级 (English: student_number,
name, class). Each 学号 is a student's username. A roster is imported all or nothing: any bad row and
nothing is written, every bad row reported with its file, row and column. Importing the same roster
again creates no account and no enrolment; accounts it creates get a one-time password that the
teacher downloads once and the student changes at first sign-in.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction

from core.exceptions import ApplicationError
from quizbank.importers.base import BankImportError, read_text
from quizbank.importers.xlsx_table import sheet_rows
from quizbank.models import (
    AccessLevel,
    BankShare,
    Enrolment,
    Paper,
    PaperAssignment,
    PaperShare,
    SchoolClass,
    StudentAccount,
    Subject,
)
from quizbank.roles import STUDENT, is_admin, is_teacher
from quizbank.selectors.access import bank_root, paper_allows
from quizbank.services.papers import paper_deadlines_update

# Join codes and one-time passwords leave out letters and digits that read alike (0/O, 1/l/I).
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ONE_TIME_LETTERS = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 6
PASSWORD_LENGTH = 10
ONE_TIME_HASHER = "pbkdf2_sha256_onetime"
ROSTER_LIMIT = 5000  # students in one file
ROSTER_COLUMNS = {
    "学号": "number",
    "student_number": "number",
    "姓名": "name",
    "name": "name",
    "班级": "class",
    "class": "class",
}
# A 学号 is a username: letters, digits and . - _ (Django allows @ and + too; a 学号 never has them).
_NUMBER = re.compile(r"^[A-Za-z0-9._-]{1,32}$")


def _teacher_check(user: User) -> None:
    if not is_teacher(user):
        raise ApplicationError("only teachers manage classes", extra={"code": "not_teacher"})


def class_owner_check(*, school_class: SchoolClass, user: User) -> None:
    """Only the class's teacher (or an admin) changes it; a class without one is every teacher's."""
    _teacher_check(user)
    if not (is_admin(user) or school_class.owner_id in (None, user.pk)):
        raise ApplicationError("this class is another teacher's", extra={"code": "not_owner"})


def class_create(*, name: str, owner: User) -> SchoolClass:
    _teacher_check(owner)
    name = name.strip()
    if not name:
        raise ApplicationError("a class needs a name", extra={"field": "name"})
    if len(name) > 100:
        raise ApplicationError("a class name has at most 100 characters", extra={"field": "name"})
    if SchoolClass.objects.filter(name=name).exists():
        raise ApplicationError(f"a class named {name!r} exists already", extra={"field": "name"})
    for _ in range(10):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with transaction.atomic():
                return SchoolClass.objects.create(name=name, code=code, owner=owner)
        except IntegrityError:
            if SchoolClass.objects.filter(name=name).exists():
                raise ApplicationError(f"a class named {name!r} exists already", extra={"field": "name"}) from None
    raise ApplicationError("no free join code was found; try again")  # 32^6 codes: never in practice


def class_join(*, user: User, code: str) -> SchoolClass:
    """A student joins a class with the code the teacher handed out (joining twice is harmless)."""
    school_class = SchoolClass.objects.filter(code=code.strip().upper()).first()
    if school_class is None:
        raise ApplicationError("no class has this code", extra={"field": "code"})
    Enrolment.objects.get_or_create(school_class=school_class, user=user, defaults={"joined_by": "code"})
    return school_class


def enrolment_remove(*, school_class: SchoolClass, student: User, by: User) -> None:
    class_owner_check(school_class=school_class, user=by)
    Enrolment.objects.filter(school_class=school_class, user=student).delete()


# --- rosters --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterRow:
    row: int
    number: str
    name: str
    class_name: str


@dataclass
class RosterReport:
    """What a roster import did: the accounts it made (with their one-time passwords, shown once),
    the students it enrolled, and the rows it refused (then nothing was written)."""

    created: list[dict] = field(default_factory=list)
    enrolled: int = 0
    already_enrolled: int = 0
    existing_accounts: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "created": len(self.created),
            "enrolled": self.enrolled,
            "already_enrolled": self.already_enrolled,
            "existing_accounts": self.existing_accounts,
            "errors": self.errors,
        }

    def credentials_csv(self) -> str:
        """The new accounts' first passwords, for the teacher to hand out (UTF-8 with BOM: Excel reads it)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["学号", "姓名", "班级", "初始密码"])
        for account in self.created:
            writer.writerow([account["number"], account["name"], account["class"], account["password"]])
        return "\ufeff" + out.getvalue()


def _error(file_name: str, row: int | None, column: str, message: str) -> dict:
    return {"source": file_name, "line": row, "field": column, "message": message}


def _roster_cells(path: Path, file_name: str) -> list[tuple[int, list[str]]]:
    if file_name.lower().endswith((".xlsx", ".xlsm")):
        try:
            return [
                (number, ["" if c is None else str(c).strip() for c in cells]) for number, cells in sheet_rows(path)
            ]
        except Exception as exc:  # a damaged or foreign file: say so for the file, not a 500
            raise ApplicationError(
                f"{file_name}: not a readable xlsx file ({exc})",
                extra={"errors": [_error(file_name, None, "(file)", str(exc))]},
            ) from exc
    try:
        text = read_text(path, file_name=file_name)
    except BankImportError as exc:
        raise ApplicationError(str(exc), extra={"errors": [e.as_dict() for e in exc.errors]}) from exc
    delimiter = "\t" if "\t" in text.split("\n", 1)[0] else ","
    return [
        (n, [c.strip() for c in cells]) for n, cells in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1)
    ]


def roster_read(*, path: Path, file_name: str) -> list[RosterRow]:
    """The roster's rows, or ApplicationError listing every bad row (`extra["errors"]`)."""
    lines = [(number, cells) for number, cells in _roster_cells(path, file_name) if any(cells)]
    if not lines:
        raise ApplicationError(
            f"{file_name}: the file is empty", extra={"errors": [_error(file_name, None, "(file)", "empty")]}
        )
    header_row, header = lines[0]
    columns: dict[str, int] = {}
    for index, heading in enumerate(header):
        key = ROSTER_COLUMNS.get(heading.strip().rstrip("*").strip().lower())
        if key is not None:
            columns.setdefault(key, index)
    missing = [name for name, key in (("学号", "number"), ("姓名", "name")) if key not in columns]
    if missing:
        message = (
            f"the first row must name the columns 学号 and 姓名 (and optionally 班级); missing: {', '.join(missing)}"
        )
        raise ApplicationError(
            f"{file_name}: {message}", extra={"errors": [_error(file_name, header_row, missing[0], message)]}
        )
    if len(lines) - 1 > ROSTER_LIMIT:
        message = f"at most {ROSTER_LIMIT} students in one file"
        raise ApplicationError(
            f"{file_name}: {message}", extra={"errors": [_error(file_name, None, "(file)", message)]}
        )

    def cell(cells: list[str], key: str) -> str:
        index = columns.get(key)
        return cells[index] if index is not None and index < len(cells) else ""

    rows: list[RosterRow] = []
    errors: list[dict] = []
    seen: dict[str, str] = {}
    for number, cells in lines[1:]:
        row = RosterRow(number, cell(cells, "number"), cell(cells, "name"), cell(cells, "class"))
        if not _NUMBER.match(row.number):
            errors.append(
                _error(file_name, number, "学号", f"{row.number!r} is not a 学号 (letters, digits, . - _; at most 32)")
            )
        elif row.number in seen and seen[row.number] != row.name:
            errors.append(_error(file_name, number, "学号", f"{row.number} is also on another row with another 姓名"))
        if not row.name or len(row.name) > 150:
            errors.append(_error(file_name, number, "姓名", "a student needs a 姓名 of at most 150 characters"))
        if len(row.class_name) > 100:
            errors.append(_error(file_name, number, "班级", "a class name has at most 100 characters"))
        seen.setdefault(row.number, row.name)
        rows.append(row)
    if errors:
        raise ApplicationError(f"{file_name}: {len(errors)} bad row(s); nothing was imported", extra={"errors": errors})
    return rows


def class_students_import(
    *, path: Path, file_name: str, by: User, school_class: SchoolClass | None = None
) -> RosterReport:
    """Enrol a roster's students: into `school_class`, or into the class each row's 班级 names (made
    for the teacher where none has that name). All or nothing."""
    _teacher_check(by)
    rows = roster_read(path=path, file_name=file_name)
    report = RosterReport()
    errors = []
    classes: dict[str, SchoolClass] = {}
    for row in rows:
        name = row.class_name or (school_class.name if school_class else "")
        if not name:
            errors.append(
                _error(file_name, row.row, "班级", "the row names no class (give a 班级 column or import into a class)")
            )
        elif school_class is not None and name != school_class.name:
            errors.append(_error(file_name, row.row, "班级", f"the row is for {name!r}, not {school_class.name!r}"))
    existing = {
        user.username: user
        for user in User.objects.filter(username__in={row.number for row in rows}).select_related("student_account")
    }
    for row in rows:
        user = existing.get(row.number)
        if user is not None and not hasattr(user, "student_account") and (is_teacher(user) or user.is_staff):
            errors.append(_error(file_name, row.row, "学号", f"{row.number} is a teacher's or an admin's account"))
    if errors:
        raise ApplicationError(f"{file_name}: {len(errors)} bad row(s); nothing was imported", extra={"errors": errors})
    report.existing_accounts = len(existing)
    with transaction.atomic():
        student_group, _ = Group.objects.get_or_create(name=STUDENT)
        for row in rows:
            name = row.class_name or school_class.name  # type: ignore[union-attr]
            if name not in classes:
                classes[name] = SchoolClass.objects.filter(name=name).first() or class_create(name=name, owner=by)
                class_owner_check(school_class=classes[name], user=by)
            user = existing.get(row.number)
            if user is None:
                password = "".join(secrets.choice(ONE_TIME_LETTERS) for _ in range(PASSWORD_LENGTH))
                user = User.objects.create(username=row.number, first_name=row.name, password=_one_time_hash(password))
                user.groups.add(student_group)
                StudentAccount.objects.create(user=user, student_number=row.number)
                existing[row.number] = user
                report.created.append({"number": row.number, "name": row.name, "class": name, "password": password})
            _, made = Enrolment.objects.get_or_create(
                school_class=classes[name], user=user, defaults={"joined_by": "import"}
            )
            report.enrolled += made
            report.already_enrolled += not made
    return report


def _one_time_hash(password: str) -> str:
    """The one-time password hashed quickly (quizbank/hashers.py) where that hasher is configured."""
    try:
        return make_password(password, hasher=ONE_TIME_HASHER)
    except ValueError:  # not among PASSWORD_HASHERS (a test's faster list): the default one
        return make_password(password)


def student_password_changed(*, user: User) -> None:
    """The one-time password is spent: the student chose their own."""
    StudentAccount.objects.filter(user=user).update(must_change_password=False)


# --- assignments ----------------------------------------------------------------------------------


def paper_assign(
    *,
    paper: Paper,
    school_class: SchoolClass,
    by: User,
    open_at: datetime | None = None,
    close_at: datetime | None = None,
    time_limit_seconds: int | None = None,
) -> PaperAssignment:
    """Give a paper to a class (again: change its window). From then on only the students of the
    paper's classes see it. Attempts in progress follow a new close or limit."""
    if not paper_allows(user=by, paper=paper, level=AccessLevel.USE):
        raise ApplicationError("you may not assign this paper", extra={"code": "not_allowed"})
    class_owner_check(school_class=school_class, user=by)
    if paper.owner_id is not None:
        raise ApplicationError("a student's own practice paper cannot be assigned", extra={"field": "paper"})
    if open_at and close_at and close_at <= open_at:
        raise ApplicationError("the class's window must close after it opens", extra={"field": "close_at"})
    if time_limit_seconds is not None and time_limit_seconds < 1:
        raise ApplicationError("a time limit must be at least one second", extra={"field": "time_limit_seconds"})
    with transaction.atomic():
        assignment, _ = PaperAssignment.objects.update_or_create(
            paper=paper,
            school_class=school_class,
            defaults={
                "open_at": open_at,
                "close_at": close_at,
                "time_limit_seconds": time_limit_seconds,
                "assigned_by": by,
            },
        )
        paper_deadlines_update(paper=paper)
    return assignment


def paper_unassign(*, paper: Paper, school_class: SchoolClass, by: User) -> None:
    """Take a paper back from a class. A paper left with no class is open to every student again."""
    if not paper_allows(user=by, paper=paper, level=AccessLevel.USE):
        raise ApplicationError("you may not assign this paper", extra={"code": "not_allowed"})
    class_owner_check(school_class=school_class, user=by)
    with transaction.atomic():
        PaperAssignment.objects.filter(paper=paper, school_class=school_class).delete()
        paper_deadlines_update(paper=paper)


# --- sharing --------------------------------------------------------------------------------------


def _level(level: str) -> str:
    if level not in AccessLevel.values:
        raise ApplicationError(f"{level!r} is not a level ({', '.join(AccessLevel.values)})", extra={"field": "level"})
    return level


def bank_claim(*, subject: Subject, owner: User) -> Subject:
    """Make a school bank (a top-level subject without owner) a teacher's own."""
    root = bank_root(subject)
    if root.owner_id not in (None, owner.pk) and not is_admin(owner):
        raise ApplicationError("this bank is another teacher's", extra={"code": "not_owner"})
    _teacher_check(owner)
    root.owner = owner
    root.save(update_fields=["owner"])
    return root


def bank_share(*, subject: Subject, teacher: User, level: str, by: User) -> BankShare | None:
    """Share a bank with another teacher at a level (None: take the share back)."""
    root = bank_root(subject)
    if not (is_admin(by) or (root.owner_id is not None and root.owner_id == by.pk)):
        raise ApplicationError("only the bank's owner shares it", extra={"code": "not_owner"})
    if not is_teacher(teacher):
        raise ApplicationError(f"{teacher.username} is not a teacher", extra={"field": "teacher"})
    if not level:
        BankShare.objects.filter(subject=root, teacher=teacher).delete()
        return None
    share, _ = BankShare.objects.update_or_create(subject=root, teacher=teacher, defaults={"level": _level(level)})
    return share


def paper_share(*, paper: Paper, teacher: User, level: str, by: User) -> PaperShare | None:
    """Share a paper with another teacher at a level (None: take the share back)."""
    if not (is_admin(by) or (paper.created_by_id is not None and paper.created_by_id == by.pk)):
        raise ApplicationError("only the paper's author shares it", extra={"code": "not_owner"})
    if not is_teacher(teacher):
        raise ApplicationError(f"{teacher.username} is not a teacher", extra={"field": "teacher"})
    if not level:
        PaperShare.objects.filter(paper=paper, teacher=teacher).delete()
        return None
    share, _ = PaperShare.objects.update_or_create(paper=paper, teacher=teacher, defaults={"level": _level(level)})
    return share
