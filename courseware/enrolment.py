"""Enrolling trainees in a cohort: one at a time, or many from a CSV file.

Both paths apply the same rules: a trainee is found by e-mail address (case-insensitive) or
created without a usable password (the invite lets them set one); nobody is enrolled twice
in a cohort; an instructor of a cohort cannot also be its trainee; staff and superusers are
never trainees (an invite must not become a way to set an admin's password), nor are
deactivated accounts. A removed enrolment is revived rather than duplicated, so the
trainee's progress in the cohort comes back with it.

This module is the only writer of an enrolment's state: ``enrol`` and ``add`` create or
revive, ``remove`` removes (and tears the lab down), ``courseware.invites`` accepts. The
admin's forms show the state and never write it.

A CSV import is validated as a whole before anything is written (``read_csv`` reports every
problem with its line number), then written in one transaction with a fixed number of
queries whatever the number of rows (``import_csv``). Invites are not sent here but queued
for after the commit (``courseware.invites.queue_invites``). Trainees who join a cohort
whose labs are due (running, or starting within ``LAB_PROVISION_LEAD_HOURS``) get theirs
provisioned, also queued for after the commit (``cohort_labs.provision_new_trainees``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Lower
from django.utils import timezone

from courseware.cohort_labs import provision_new_trainees
from courseware.invites import queue_invites
from courseware.models import Cohort, Enrolment
from labs.models import Lab
from labs.tasks import teardown_lab

User = get_user_model()

COLUMNS = ("email", "first_name", "last_name")
SAMPLE_CSV = "email,first_name,last_name\nada@example.com,Ada,Lovelace\n"
# Far above any classroom, and low enough that the bulk lookups and inserts stay within the
# parameter limits of SQLite and PostgreSQL.
MAX_ROWS = 5000
_LABELS = {"email": "e-mail address", "first_name": "first name", "last_name": "last name"}
_NAME_MAX = 150  # auth.User's first_name, last_name and username
_LOOK_UP: Any = object()  # "ask the database", where None means "there is none"


class EnrolmentRefused(ValueError):
    """A single enrolment that the rules forbid; the message says why, for a human."""


@dataclass(frozen=True)
class CsvError:
    """One problem in an uploaded file. ``row`` is the line number in the file (the header
    is row 1); ``column`` is None for problems of the whole row or file."""

    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class CsvInvalid(Exception):
    """The file cannot be imported; ``errors`` lists every problem found, in file order."""

    def __init__(self, errors: list[CsvError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(error) for error in errors))


@dataclass
class CsvRow:
    """A good row of a CSV file, with what the database already knows about its person:
    the existing user (None: one will be created) and their removed enrolment in the cohort
    (None: a new enrolment will be created)."""

    row: int
    email: str
    first_name: str
    last_name: str
    user: AbstractBaseUser | None = None
    removed_enrolment: Enrolment | None = None


@dataclass
class ImportResult:
    """What an import did: the enrolments it created or revived, by trainee e-mail."""

    enrolments: list[Enrolment] = field(default_factory=list)
    created_users: int = 0
    revived: int = 0

    @property
    def count(self) -> int:
        return len(self.enrolments)


def normalise_email(email: str) -> str:
    return BaseUserManager.normalize_email(email.strip())


def enrol(cohort: Cohort, *, email: str, first_name: str, last_name: str) -> Enrolment:
    """Enrol the person with ``email`` in ``cohort``, creating their user if there is none.

    Raises ``ValidationError`` for a malformed address and ``EnrolmentRefused`` when the
    person is already enrolled, teaches the cohort, is staff, is deactivated, or cannot be
    matched to one user. Sends no invite: call ``queue_invites`` with the enrolment's id for
    that.
    """
    email = normalise_email(email)
    validate_email(email)
    with transaction.atomic():
        matches = _users_matching([email.lower()])
        problem = _refusal(cohort, email, matches) or _new_user_problem(email, matches)
        if problem:
            raise EnrolmentRefused(problem)
        user = _owner_of(email, matches)
        if user is None:
            user = _new_user(email, first_name.strip(), last_name.strip())
            user.save()
        return add(cohort, user)


def add(cohort: Cohort, user: AbstractBaseUser) -> Enrolment:
    """Enrol ``user``, who has an account already, in ``cohort``: a new enrolment, or their
    removed one revived. Raises ``EnrolmentRefused`` when the rules forbid it. Sends no
    invite (``queue_invites`` does); queues the lab when the cohort's labs are due."""
    with transaction.atomic():
        problem = refusal(cohort, user)
        if problem:
            raise EnrolmentRefused(problem)
        enrolment = Enrolment.objects.filter(cohort=cohort, trainee=user).first()
        if enrolment is None:
            enrolment = Enrolment.objects.create(cohort=cohort, trainee=user)
        else:
            _revive(enrolment)
            enrolment.save(update_fields=["state", "invited_at", "accepted_at", "removed_at"])
        provision_new_trainees(cohort, [enrolment.pk])
        return enrolment


def refusal(
    cohort: Cohort,
    user: AbstractBaseUser,
    enrolment: Enrolment | None = _LOOK_UP,
    *,
    name: str = "",
) -> str | None:
    """Why ``user`` cannot be enrolled in ``cohort``, if they cannot; None when they can
    (a removed enrolment of theirs is revived, so it is no reason).

    ``enrolment`` is the user's enrolment in the cohort when the caller has it at hand (None
    for none); by default it is looked up. ``name`` is how the message calls the person (the
    address as typed in a file, say); by default their e-mail address."""
    name = name or user.email or user.get_username()
    who = name if name == user.get_username() else f"{name} ({user.get_username()})"
    if not user.is_active:
        return f"The account of {who} is deactivated; reactivate it first."
    if user.is_staff or user.is_superuser:
        kind = "a superuser" if user.is_superuser else "a staff account"
        return f"{who} is {kind}; staff and superusers cannot be enrolled as trainees."
    teaches = (
        user.teaches if hasattr(user, "teaches") else cohort.instructors.filter(pk=user.pk).exists()
    )
    if teaches:
        return f"{name} is an instructor of this cohort and cannot also be its trainee."
    if enrolment is _LOOK_UP:
        enrolment = Enrolment.objects.filter(cohort=cohort, trainee=user).first()
    if enrolment is not None and enrolment.state != Enrolment.State.REMOVED:
        return (
            f"{name} is already enrolled in this cohort ({enrolment.get_state_display().lower()})."
        )
    return None


def remove(enrolment: Enrolment) -> None:
    """End the trainee's access to the cohort at once; the enrolment (and with it their
    progress) is kept, so enrolling them again brings it back."""
    enrolment.state = Enrolment.State.REMOVED
    enrolment.removed_at = timezone.now()
    enrolment.save(update_fields=["state", "removed_at"])
    # The lab goes with the access: nothing of a removed trainee stays on the cluster.
    lab = Lab.objects.filter(enrolment=enrolment).exclude(state=Lab.State.DELETED).first()
    if lab is not None:
        transaction.on_commit(lambda: teardown_lab.delay(lab.pk))


def read_csv(cohort: Cohort, data: bytes) -> list[CsvRow]:
    """Parse and check an upload for ``cohort`` without writing anything.

    Returns the rows, each with its existing user and removed enrolment if any, when every
    one of them can be imported; raises ``CsvInvalid`` with all the problems otherwise. Reads
    the database at most twice, whatever the number of rows.
    """
    rows, errors = _parse(data)
    if not rows:
        raise CsvInvalid(_in_file_order(errors))
    # Rows with a name missing are still checked against the database, so that one upload
    # reports everything; rows without a usable address cannot be.
    bad_email = {error.row for error in errors if error.column == "email"}
    rows_to_check = [row for row in rows if row.row not in bad_email]

    emails = [row.email.lower() for row in rows_to_check]
    users = _users_matching(emails, cohort=cohort)
    by_email: dict[str, list[AbstractBaseUser]] = {}
    by_username: dict[str, AbstractBaseUser] = {}
    for user in users:
        by_email.setdefault(user.email.strip().lower(), []).append(user)
        by_username[user.username] = user
    enrolments = {
        enrolment.trainee_id: enrolment
        for enrolment in Enrolment.objects.filter(
            cohort=cohort, trainee__in=[user.pk for user in users]
        )
    }

    first_seen: dict[str, int] = {}
    for row in rows_to_check:
        key = row.email.lower()
        if key in first_seen:
            errors.append(
                CsvError(
                    row.row,
                    "email",
                    f"{row.email} is also in row {first_seen[key]}; "
                    "each trainee may appear only once.",
                )
            )
            continue
        first_seen[key] = row.row
        matches = by_email.get(key, [])
        holder = by_username.get(key)
        if holder is not None and holder not in matches:
            matches = [*matches, holder]
        problem = _refusal(cohort, row.email, matches, enrolments) or _new_user_problem(
            row.email, matches
        )
        if problem:
            errors.append(CsvError(row.row, "email", problem))
            continue
        row.user = _owner_of(row.email, matches)
        if row.user is not None and row.user.pk in enrolments:
            row.removed_enrolment = enrolments[row.user.pk]
            row.removed_enrolment.trainee = row.user  # str() in the audit log needs it
            row.removed_enrolment.cohort = cohort
    if errors:
        raise CsvInvalid(_in_file_order(errors))
    return rows


def import_csv(
    cohort: Cohort,
    data: bytes,
    *,
    by: AbstractBaseUser,
    send_invites: bool = True,
    filename: str = "a CSV file",
) -> ImportResult:
    """Enrol everyone in the file in ``cohort``, or nobody: raises ``CsvInvalid`` with every
    problem and writes nothing unless all rows are good.

    Runs a fixed number of queries whatever the number of rows (bulk lookups and inserts;
    SQLite splits a bulk insert into batches of a few hundred parameters). Records the import
    in the admin's history as ``by``: one entry on the cohort, one per enrolment. With
    ``send_invites`` the invites are queued to go out after the commit.
    """
    with transaction.atomic():
        # Serialises imports into one cohort: a second click on "Import" then reports the
        # rows as already enrolled instead of failing on the unique constraint.
        Cohort.objects.select_for_update().filter(pk=cohort.pk).exists()
        rows = read_csv(cohort, data)

        new_users = [_new_user(r.email, r.first_name, r.last_name) for r in rows if not r.user]
        User.objects.bulk_create(new_users)
        created = iter(new_users)
        for row in rows:
            if row.user is None:
                row.user = next(created)

        revived = [row.removed_enrolment for row in rows if row.removed_enrolment is not None]
        for enrolment in revived:
            _revive(enrolment)
        Enrolment.objects.filter(pk__in=[enrolment.pk for enrolment in revived]).update(
            state=Enrolment.State.INVITED, invited_at=None, accepted_at=None, removed_at=None
        )
        added = Enrolment.objects.bulk_create(
            [
                Enrolment(cohort=cohort, trainee=row.user, state=Enrolment.State.INVITED)
                for row in rows
                if row.removed_enrolment is None
            ]
        )

        trainees = "trainee" if len(rows) == 1 else "trainees"
        LogEntry.objects.log_actions(
            by.pk, [cohort], CHANGE, f"Imported {len(rows)} {trainees} from {filename}"
        )
        LogEntry.objects.log_actions(by.pk, added, ADDITION, f"Imported from {filename}")
        if revived:
            LogEntry.objects.log_actions(
                by.pk, revived, CHANGE, f"Enrolled again (was removed) from {filename}"
            )

        enrolments = sorted([*added, *revived], key=lambda enrolment: enrolment.trainee.email)
        if send_invites:
            queue_invites([enrolment.pk for enrolment in enrolments])
        provision_new_trainees(cohort, [enrolment.pk for enrolment in enrolments])
    return ImportResult(enrolments=enrolments, created_users=len(new_users), revived=len(revived))


def _parse(data: bytes) -> tuple[list[CsvRow], list[CsvError]]:
    """The file's data rows and the problems of its fields; no rows when the encoding, the
    shape or the header is wrong."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # the BOM that Excel writes in front of "CSV UTF-8"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        return [], [
            CsvError(
                line,
                None,
                f"The file is not UTF-8 text (byte 0x{byte} in line {line}). "
                "Save it as “CSV UTF-8 (comma delimited)”.",
            )
        ]
    if not text.strip():
        return [], [CsvError(1, None, f"The file is empty. {_expected_header()}")]

    first_line = text.lstrip("\r\n").splitlines()[0]
    # Spreadsheets in many European locales save "CSV" with semicolons.
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    line = 0
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if any(value.strip() for value in record):
                records.append((start, record))
    except csv.Error as exc:
        return [], [CsvError(line + 1, None, f"This is not a readable CSV file: {exc}.")]
    if not records:
        return [], [CsvError(1, None, f"The file is empty. {_expected_header()}")]

    (header_row, header), data_rows = records[0], records[1:]
    if any("\x00" in name for name in header):
        return [], [
            CsvError(
                header_row,
                None,
                "The header contains a NUL character (a zero byte); save the file again as "
                f"plain CSV text. {_expected_header()}",
            )
        ]
    columns = [name.strip().lower() for name in header]
    errors = _header_errors(header_row, columns)
    if errors:
        return [], errors
    if not data_rows:
        return [], [CsvError(header_row + 1, None, "The file has a header but no trainees.")]
    if len(data_rows) > MAX_ROWS:
        return [], [
            CsvError(
                data_rows[MAX_ROWS][0],
                None,
                f"The file has {len(data_rows)} trainees; import at most {MAX_ROWS} at a time.",
            )
        ]

    rows: list[CsvRow] = []
    for number, record in data_rows:
        if len(record) > len(columns):
            errors.append(
                CsvError(
                    number,
                    None,
                    f"This row has {len(record)} values but the header has {len(columns)} "
                    "columns; a value that contains a comma must be in double quotes.",
                )
            )
            continue
        values = dict(zip(columns, [value.strip() for value in record], strict=False))
        # PostgreSQL refuses text with NUL in it; such a row is an error of its own here,
        # reported without the value.
        nul = [name for name in COLUMNS if "\x00" in values.get(name, "")]
        if nul:
            errors.extend(
                CsvError(
                    number,
                    name,
                    f"The {_LABELS[name]} contains a NUL character (a zero byte); "
                    "save the file again as plain CSV text.",
                )
                for name in nul
            )
            continue
        row = CsvRow(number, **{name: values.get(name, "") for name in COLUMNS})
        row.email = normalise_email(row.email)
        errors.extend(_field_errors(row))
        rows.append(row)
    return rows, errors


def _in_file_order(errors: list[CsvError]) -> list[CsvError]:
    def key(error: CsvError) -> tuple[int, int]:
        return error.row, COLUMNS.index(error.column) if error.column in COLUMNS else -1

    return sorted(errors, key=key)


def _expected_header() -> str:
    return f"The first line must be the header {','.join(COLUMNS)}."


def _header_errors(row: int, columns: list[str]) -> list[CsvError]:
    if any("@" in column for column in columns):
        return [CsvError(row, None, f"The header is missing. {_expected_header()}")]
    errors: list[CsvError] = []
    seen: set[str] = set()
    for position, name in enumerate(columns, start=1):
        if not name:
            errors.append(CsvError(row, None, f"Column {position} has no name in the header."))
        elif name in seen:
            errors.append(CsvError(row, name, f"The column {name} appears more than once."))
        elif name not in COLUMNS:
            errors.append(
                CsvError(
                    row, name, f"Unknown column “{name}”; the columns are {', '.join(COLUMNS)}."
                )
            )
        seen.add(name)
    errors.extend(
        CsvError(row, name, f"The column {name} is missing from the header.")
        for name in COLUMNS
        if name not in seen
    )
    return errors


def _field_errors(row: CsvRow) -> list[CsvError]:
    errors = [
        CsvError(row.row, name, f"The {_LABELS[name]} is missing.")
        for name in COLUMNS
        if not getattr(row, name)
    ]
    if row.email:
        try:
            validate_email(row.email)
        except ValidationError:
            errors.append(
                CsvError(row.row, "email", f"“{row.email}” is not a valid e-mail address.")
            )
    errors.extend(
        CsvError(row.row, name, f"The {_LABELS[name]} is longer than {_NAME_MAX} characters.")
        for name in ("first_name", "last_name")
        if len(getattr(row, name)) > _NAME_MAX
    )
    return errors


def _users_matching(emails: list[str], cohort: Cohort | None = None) -> list[AbstractBaseUser]:
    """Users whose e-mail address (any case) or username is one of ``emails`` (lower case):
    the candidates, and whoever already holds the username a new user would get."""
    users = (
        User.objects.annotate(email_lower=Lower("email"))
        .filter(Q(email_lower__in=emails) | Q(username__in=emails))
        .order_by("pk")
    )
    if cohort is not None:
        users = users.annotate(
            teaches=Exists(Cohort.objects.filter(pk=cohort.pk, instructors=OuterRef("pk")))
        )
    return list(users)


def _owner_of(email: str, matches: list[AbstractBaseUser]) -> AbstractBaseUser | None:
    owners = [user for user in matches if user.email.strip().lower() == email.lower()]
    return owners[0] if owners else None


def _refusal(
    cohort: Cohort,
    email: str,
    matches: list[AbstractBaseUser],
    enrolments: dict[int, Enrolment] | None = None,
) -> str | None:
    """Why the person with ``email`` cannot be enrolled in ``cohort``, if they cannot.

    ``enrolments`` are the cohort's enrolments by trainee id when the caller has fetched them
    in bulk; without it each check asks the database."""
    owners = [user for user in matches if user.email.strip().lower() == email.lower()]
    if len(owners) > 1:
        return (
            f"{len(owners)} users have the e-mail address {email} "
            f"({', '.join(user.username for user in owners)}); merge them first."
        )
    if not owners:
        return None
    user = owners[0]
    enrolment = _LOOK_UP if enrolments is None else enrolments.get(user.pk)
    return refusal(cohort, user, enrolment, name=email)


def _new_user_problem(email: str, matches: list[AbstractBaseUser]) -> str | None:
    """Why no user can be created for ``email``, when there is none to reuse."""
    if _owner_of(email, matches) is not None:
        return None
    if len(email) > _NAME_MAX:
        return f"The e-mail address is longer than {_NAME_MAX} characters, too long for a login."
    holder = next((user for user in matches if user.username == email.lower()), None)
    if holder is not None:
        return (
            f"The login {email.lower()} is taken by another user whose e-mail address is "
            f"{holder.email or '(none)'}; give that user this e-mail address or another login."
        )
    return None


def _new_user(email: str, first_name: str, last_name: str) -> AbstractBaseUser:
    user = User(username=email.lower(), email=email, first_name=first_name, last_name=last_name)
    # The invite sets the password; until then nobody can log in as this user.
    user.set_unusable_password()
    return user


def _revive(enrolment: Enrolment) -> None:
    """Back to invited. The dates of the old invite go, so that a fresh invite can be sent
    (the invite task skips accepted enrolments) and older links stay dead."""
    enrolment.state = Enrolment.State.INVITED
    enrolment.invited_at = None
    enrolment.accepted_at = None
    enrolment.removed_at = None
