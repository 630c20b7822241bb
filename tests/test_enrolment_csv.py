"""Enrolment service and the CSV import: every problem named with its row, all or nothing,
users reused by e-mail, removed enrolments revived, history written, invites e-mailed, and a
number of queries that does not grow with the file."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courseware.enrolment import (
    CsvError,
    CsvInvalid,
    EnrolmentRefused,
    enrol,
    import_csv,
    read_csv,
    remove,
)
from courseware.models import Cohort, Course, Enrolment
from tests.factories import make_cohort

pytestmark = pytest.mark.django_db

HEADER = b"email,first_name,last_name\n"


@pytest.fixture
def upcoming_cohort(fixture_course: Course, instructor: User) -> Cohort:
    """Starts in a week, taught by the instructor: trainees are imported before a class."""
    cohort = make_cohort(fixture_course, "berlin-march", days_from_now=7, name="Berlin, March")
    cohort.instructors.add(instructor)
    return cohort


def csv_of(*lines: str) -> bytes:
    return HEADER + "".join(line + "\n" for line in lines).encode()


def errors_of(cohort: Cohort, data: bytes) -> list[tuple[int, str | None, str]]:
    with pytest.raises(CsvInvalid) as caught:
        read_csv(cohort, data)
    return [(error.row, error.column, error.message) for error in caught.value.errors]


def test_it_imports_new_trainees(upcoming_cohort: Cohort, admin: User) -> None:
    data = csv_of("Ada@Example.com,Ada,Lovelace", " grace@example.com , Grace , Hopper ")

    result = import_csv(upcoming_cohort, data, by=admin, send_invites=False)

    assert result.count == 2
    assert result.created_users == 2
    assert result.revived == 0
    ada = User.objects.get(username="ada@example.com")
    assert (ada.email, ada.first_name, ada.last_name) == ("Ada@example.com", "Ada", "Lovelace")
    assert not ada.has_usable_password()
    assert User.objects.get(username="grace@example.com").first_name == "Grace"
    enrolments = Enrolment.objects.filter(cohort=upcoming_cohort)
    assert {e.trainee.username for e in enrolments} == {"ada@example.com", "grace@example.com"}
    assert {e.state for e in enrolments} == {Enrolment.State.INVITED}


def test_it_reuses_an_existing_user_whatever_the_case_of_the_address(
    upcoming_cohort: Cohort, admin: User
) -> None:
    ada = User.objects.create_user("ada", "ada@example.com", first_name="Augusta")

    result = import_csv(upcoming_cohort, csv_of("ADA@EXAMPLE.COM,Ada,Lovelace"), by=admin)

    assert result.created_users == 0
    assert [enrolment.trainee for enrolment in result.enrolments] == [ada]
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1
    ada.refresh_from_db()
    assert ada.first_name == "Augusta"  # the user's own record is left alone


def test_it_revives_a_removed_enrolment(upcoming_cohort: Cohort, admin: User) -> None:
    ada = User.objects.create_user("ada", "ada@example.com")
    old = Enrolment.objects.create(
        cohort=upcoming_cohort,
        trainee=ada,
        state=Enrolment.State.REMOVED,
        invited_at=timezone.now(),
        accepted_at=timezone.now(),
        removed_at=timezone.now(),
    )

    result = import_csv(upcoming_cohort, csv_of("ada@example.com,Ada,Lovelace"), by=admin)

    assert result.revived == 1
    assert [enrolment.pk for enrolment in result.enrolments] == [old.pk]
    old.refresh_from_db()
    assert old.state == Enrolment.State.INVITED
    assert (old.invited_at, old.accepted_at, old.removed_at) == (None, None, None)
    assert Enrolment.objects.filter(cohort=upcoming_cohort).count() == 1


def test_it_records_the_import_in_the_admin_history(upcoming_cohort: Cohort, admin: User) -> None:
    ada = User.objects.create_user("ada", "ada@example.com")
    Enrolment.objects.create(cohort=upcoming_cohort, trainee=ada, state=Enrolment.State.REMOVED)
    data = csv_of("ada@example.com,Ada,Lovelace", "grace@example.com,Grace,Hopper")

    result = import_csv(upcoming_cohort, data, by=admin, filename="march.csv")

    on_cohort = LogEntry.objects.get(user=admin, content_type__model="cohort")
    assert on_cohort.object_id == str(upcoming_cohort.pk)
    assert on_cohort.action_flag == CHANGE
    assert on_cohort.get_change_message() == "Imported 2 trainees from march.csv"
    on_enrolments = LogEntry.objects.filter(user=admin, content_type__model="enrolment")
    grace = next(e for e in result.enrolments if e.trainee.username == "grace@example.com")
    added = on_enrolments.get(action_flag=ADDITION)
    assert added.object_id == str(grace.pk)
    assert added.object_repr == "grace@example.com in Berlin, March"
    assert added.change_message == "Imported from march.csv"
    revived = on_enrolments.get(action_flag=CHANGE)
    assert revived.object_repr == "ada in Berlin, March"
    assert revived.change_message == "Enrolled again (was removed) from march.csv"


def test_it_emails_an_invite_to_every_trainee_after_the_commit(
    upcoming_cohort: Cohort,
    admin: User,
    django_capture_on_commit_callbacks: Callable,
    mailoutbox: list[mail.EmailMessage],
) -> None:
    data = csv_of("ada@example.com,Ada,Lovelace", "grace@example.com,Grace,Hopper")

    with django_capture_on_commit_callbacks(execute=True):
        import_csv(upcoming_cohort, data, by=admin)
        assert mailoutbox == []  # nothing leaves before the transaction commits

    assert sorted(message.to[0] for message in mailoutbox) == [
        "ada@example.com",
        "grace@example.com",
    ]
    ada_mail = next(message for message in mailoutbox if message.to == ["ada@example.com"])
    assert ada_mail.subject == "Your invite to Berlin, March"
    assert "Hello Ada," in ada_mail.body
    assert "http://127.0.0.1:8000/invite/" in ada_mail.body
    assert Enrolment.objects.filter(invited_at__isnull=True).count() == 0


def test_it_sends_no_invites_when_told_not_to(
    upcoming_cohort: Cohort,
    admin: User,
    django_capture_on_commit_callbacks: Callable,
    mailoutbox: list[mail.EmailMessage],
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        import_csv(
            upcoming_cohort, csv_of("ada@example.com,Ada,Lovelace"), by=admin, send_invites=False
        )

    assert callbacks == []
    assert mailoutbox == []


def test_it_accepts_a_byte_order_mark_blank_lines_and_header_spellings(
    upcoming_cohort: Cohort,
) -> None:
    data = b"\xef\xbb\xbf Email ,FIRST_NAME, Last_Name\r\n\r\nada@example.com,Ada,Lovelace\r\n"

    rows = read_csv(upcoming_cohort, data)

    assert [(row.row, row.email, row.first_name, row.last_name) for row in rows] == [
        (3, "ada@example.com", "Ada", "Lovelace")
    ]


def test_it_accepts_columns_in_any_order_and_semicolons(upcoming_cohort: Cohort) -> None:
    data = b"last_name;email;first_name\nLovelace;ada@example.com;Ada\n"

    rows = read_csv(upcoming_cohort, data)

    assert [(row.email, row.first_name, row.last_name) for row in rows] == [
        ("ada@example.com", "Ada", "Lovelace")
    ]


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        pytest.param(
            HEADER + "jörg@example.com,Jörg,Müller\n".encode("latin-1"),
            [
                (
                    2,
                    None,
                    "The file is not UTF-8 text (byte 0xf6 in line 2). "
                    "Save it as “CSV UTF-8 (comma delimited)”.",
                )
            ],
            id="not-utf8",
        ),
        pytest.param(
            b"",
            [
                (
                    1,
                    None,
                    "The file is empty. "
                    "The first line must be the header email,first_name,last_name.",
                )
            ],
            id="empty",
        ),
        pytest.param(
            b"\n,,\n",
            [
                (
                    1,
                    None,
                    "The file is empty. "
                    "The first line must be the header email,first_name,last_name.",
                )
            ],
            id="only-blank-lines",
        ),
        pytest.param(HEADER, [(2, None, "The file has a header but no trainees.")], id="no-rows"),
        pytest.param(
            b"ada@example.com,Ada,Lovelace\n",
            [
                (
                    1,
                    None,
                    "The header is missing. "
                    "The first line must be the header email,first_name,last_name.",
                )
            ],
            id="no-header",
        ),
        pytest.param(
            b"email,first name,phone,email\nada@example.com,Ada,123,ada@example.com\n",
            [
                (
                    1,
                    "first name",
                    "Unknown column “first name”; the columns are email, first_name, last_name.",
                ),
                (
                    1,
                    "phone",
                    "Unknown column “phone”; the columns are email, first_name, last_name.",
                ),
                (1, "email", "The column email appears more than once."),
                (1, "first_name", "The column first_name is missing from the header."),
                (1, "last_name", "The column last_name is missing from the header."),
            ],
            id="wrong-header",
        ),
        pytest.param(
            b"email,first_name,last_name,\n",
            [(1, None, "Column 4 has no name in the header.")],
            id="unnamed-column",
        ),
        pytest.param(
            csv_of('ada@example.com,"Ada"x,Lovelace'),
            [(2, None, "This is not a readable CSV file: ',' expected after '\"'.")],
            id="not-csv",
        ),
        pytest.param(
            csv_of("ada@example.com,Ada,Lovelace", "grace@example.com,Grace,Hopper,Navy"),
            [
                (
                    3,
                    None,
                    "This row has 4 values but the header has 3 columns; "
                    "a value that contains a comma must be in double quotes.",
                )
            ],
            id="too-many-values",
        ),
        pytest.param(
            csv_of("ada(at)example.com,Ada,Lovelace"),
            [(2, "email", "“ada(at)example.com” is not a valid e-mail address.")],
            id="bad-email",
        ),
        pytest.param(
            csv_of(",Ada,Lovelace", "grace@example.com,,", "alan@example.com"),
            [
                (2, "email", "The e-mail address is missing."),
                (3, "first_name", "The first name is missing."),
                (3, "last_name", "The last name is missing."),
                (4, "first_name", "The first name is missing."),
                (4, "last_name", "The last name is missing."),
            ],
            id="missing-fields",
        ),
        pytest.param(
            csv_of("ada@example.com," + "A" * 151 + ",Lovelace"),
            [(2, "first_name", "The first name is longer than 150 characters.")],
            id="name-too-long",
        ),
        pytest.param(
            csv_of(
                "ada@example.com,Ada,Lovelace",
                "grace@example.com,Grace,Hopper",
                "",
                "ADA@example.com,Augusta Ada,King",
            ),
            [
                (
                    5,
                    "email",
                    "ADA@example.com is also in row 2; each trainee may appear only once.",
                )
            ],
            id="duplicate",
        ),
    ],
)
def test_it_names_every_problem_of_a_file_with_its_row(
    upcoming_cohort: Cohort, data: bytes, errors: list[tuple[int, str | None, str]]
) -> None:
    assert errors_of(upcoming_cohort, data) == errors


def test_it_refuses_someone_already_enrolled(upcoming_cohort: Cohort) -> None:
    ada = User.objects.create_user("ada", "Ada@Example.com")
    Enrolment.objects.create(cohort=upcoming_cohort, trainee=ada, state=Enrolment.State.ACTIVE)

    assert errors_of(
        upcoming_cohort, csv_of("grace@example.com,Grace,Hopper", "ada@example.com,A,L")
    ) == [(3, "email", "ada@example.com is already enrolled in this cohort (active).")]


def test_it_refuses_an_instructor_of_the_cohort(upcoming_cohort: Cohort, instructor: User) -> None:
    assert errors_of(upcoming_cohort, csv_of("IVAN_INSTRUCTOR@example.com,Ivan,Instructor")) == [
        (
            2,
            "email",
            "IVAN_INSTRUCTOR@example.com is an instructor of this cohort "
            "and cannot also be its trainee.",
        )
    ]


def test_it_enrols_an_instructor_of_another_cohort(
    upcoming_cohort: Cohort, instructor: User, admin: User
) -> None:
    upcoming_cohort.instructors.clear()

    result = import_csv(upcoming_cohort, csv_of("ivan_instructor@example.com,Ivan,I"), by=admin)

    assert [enrolment.trainee for enrolment in result.enrolments] == [instructor]


def test_it_refuses_what_it_cannot_match_to_one_user(upcoming_cohort: Cohort) -> None:
    User.objects.create_user("bob", "bob@example.com", is_active=False)
    User.objects.create_user("carol1", "carol@example.com")
    User.objects.create_user("carol2", "CAROL@example.com")
    User.objects.create_user("dave@example.com", "dave.old@example.com")
    data = csv_of("bob@example.com,Bob,B", "carol@example.com,Carol,C", "dave@example.com,Dave,D")

    assert errors_of(upcoming_cohort, data) == [
        (
            2,
            "email",
            "The account of bob@example.com (bob) is deactivated; reactivate it first.",
        ),
        (
            3,
            "email",
            "2 users have the e-mail address carol@example.com (carol1, carol2); merge them first.",
        ),
        (
            4,
            "email",
            "The login dave@example.com is taken by another user whose e-mail address is "
            "dave.old@example.com; give that user this e-mail address or another login.",
        ),
    ]


def test_it_reports_every_problem_of_every_row_at_once(
    upcoming_cohort: Cohort, instructor: User
) -> None:
    data = csv_of(
        "ada@example.com,Ada,Lovelace",
        "ivan_instructor@example.com,,Instructor",
        "not-an-address,Alan,Turing",
        "ada@example.com,Ada,Lovelace",
    )

    assert [(row, column) for row, column, _ in errors_of(upcoming_cohort, data)] == [
        (3, "email"),
        (3, "first_name"),
        (4, "email"),
        (5, "email"),
    ]


def test_it_imports_nothing_when_one_row_is_bad(upcoming_cohort: Cohort, admin: User) -> None:
    users_before = User.objects.count()
    data = csv_of(
        "ada@example.com,Ada,Lovelace", "grace@example.com,Grace,Hopper", "alan,Alan,Turing"
    )

    with pytest.raises(CsvInvalid) as caught:
        import_csv(upcoming_cohort, data, by=admin)

    assert caught.value.errors == [CsvError(4, "email", "“alan” is not a valid e-mail address.")]
    assert User.objects.count() == users_before
    assert not Enrolment.objects.exists()
    assert not LogEntry.objects.exists()


def test_it_imports_the_file_once_it_is_fixed(upcoming_cohort: Cohort, admin: User) -> None:
    broken = csv_of("ada@example.com,Ada,Lovelace", "alan,Alan,Turing")
    fixed = csv_of("ada@example.com,Ada,Lovelace", "alan@example.com,Alan,Turing")
    with pytest.raises(CsvInvalid):
        import_csv(upcoming_cohort, broken, by=admin)

    result = import_csv(upcoming_cohort, fixed, by=admin)

    assert result.count == 2
    assert Enrolment.objects.filter(cohort=upcoming_cohort).count() == 2


def test_it_refuses_a_second_import_of_the_same_file(upcoming_cohort: Cohort, admin: User) -> None:
    data = csv_of("ada@example.com,Ada,Lovelace")
    import_csv(upcoming_cohort, data, by=admin)

    with pytest.raises(CsvInvalid) as caught:
        import_csv(upcoming_cohort, data, by=admin)

    assert [error.message for error in caught.value.errors] == [
        "ada@example.com is already enrolled in this cohort (invited)."
    ]


def _generated(count: int, prefix: str) -> bytes:
    return csv_of(*(f"{prefix}{n}@example.com,Trainee,Number {n}" for n in range(count)))


def _queries_to_import(cohort: Cohort, admin: User, data: bytes) -> list[str]:
    with CaptureQueriesContext(connection) as context:
        import_csv(cohort, data, by=admin, send_invites=False)
    return [query["sql"] for query in context.captured_queries]


def test_it_imports_a_thousand_rows_with_the_queries_of_ten(
    upcoming_cohort: Cohort, admin: User, fixture_course: Course
) -> None:
    other = Cohort.objects.create(
        name="Hamburg",
        slug="hamburg",
        course=fixture_course,
        starts_at=upcoming_cohort.starts_at,
        ends_at=upcoming_cohort.ends_at,
    )
    # Some in both files already have accounts: lookups must stay bulk for them too.
    for n in range(0, 1000, 100):
        User.objects.create_user(f"old{n}", f"big{n}@example.com")
    User.objects.create_user("old", "small0@example.com")
    import_csv(other, _generated(1, "warm"), by=admin, send_invites=False)  # content types

    small = _queries_to_import(upcoming_cohort, admin, _generated(10, "small"))
    large = _queries_to_import(other, admin, _generated(1000, "big"))

    assert Enrolment.objects.filter(cohort=other).count() == 1001
    if connection.features.max_query_params is None:
        assert len(large) == len(small)
    else:
        # SQLite caps the parameters of one statement, so Django splits each bulk insert
        # into batches of about a hundred rows; everything else stays the same.
        def non_inserts(queries: list[str]) -> list[str]:
            return [query for query in queries if not query.startswith("INSERT")]

        assert len(non_inserts(large)) == len(non_inserts(small))
        assert len(large) - len(small) <= 3 * math.ceil(1000 / 90)


def test_it_refuses_staff_and_superusers_as_trainees(upcoming_cohort: Cohort, admin: User) -> None:
    User.objects.create_user("sam", "sam@example.com", is_staff=True)

    assert errors_of(
        upcoming_cohort,
        csv_of(
            "grace@example.com,Grace,Hopper", "ADA_ADMIN@example.com,Ada,A", "sam@example.com,S,S"
        ),
    ) == [
        (
            3,
            "email",
            "ADA_ADMIN@example.com (ada_admin) is a superuser; staff and superusers cannot be "
            "enrolled as trainees.",
        ),
        (
            4,
            "email",
            "sam@example.com (sam) is a staff account; staff and superusers cannot be enrolled "
            "as trainees.",
        ),
    ]
    with pytest.raises(EnrolmentRefused, match=r"ada_admin\) is a superuser"):
        enrol(upcoming_cohort, email=admin.email, first_name="Ada", last_name="Admin")
    assert not Enrolment.objects.exists()


def test_it_enrols_one_person(upcoming_cohort: Cohort) -> None:
    enrolment = enrol(
        upcoming_cohort, email=" Ada@Example.com ", first_name="Ada", last_name="Lovelace"
    )

    assert enrolment.state == Enrolment.State.INVITED
    assert enrolment.trainee.username == "ada@example.com"
    assert enrolment.trainee.email == "Ada@example.com"
    assert not enrolment.trainee.has_usable_password()


def test_it_enrols_an_existing_user_and_revives_a_removal(upcoming_cohort: Cohort) -> None:
    ada = User.objects.create_user("ada", "ada@example.com")
    first = enrol(upcoming_cohort, email="ADA@example.com", first_name="Ada", last_name="Lovelace")
    remove(first)

    again = enrol(upcoming_cohort, email="ada@example.com", first_name="Ada", last_name="Lovelace")

    assert again.pk == first.pk
    assert again.trainee == ada
    assert again.state == Enrolment.State.INVITED
    assert again.removed_at is None


def test_it_refuses_to_enrol_twice_or_an_instructor(
    upcoming_cohort: Cohort, instructor: User
) -> None:
    enrol(upcoming_cohort, email="ada@example.com", first_name="Ada", last_name="Lovelace")

    with pytest.raises(EnrolmentRefused, match="already enrolled"):
        enrol(upcoming_cohort, email="ada@example.com", first_name="Ada", last_name="Lovelace")
    with pytest.raises(EnrolmentRefused, match="instructor of this cohort"):
        enrol(upcoming_cohort, email=instructor.email, first_name="Ivan", last_name="Instructor")
    with pytest.raises(ValidationError):
        enrol(upcoming_cohort, email="ada", first_name="Ada", last_name="Lovelace")


def test_it_removes_an_enrolment(upcoming_cohort: Cohort) -> None:
    enrolment = enrol(
        upcoming_cohort, email="ada@example.com", first_name="Ada", last_name="Lovelace"
    )

    remove(enrolment)

    enrolment.refresh_from_db()
    assert enrolment.state == Enrolment.State.REMOVED
    assert enrolment.removed_at is not None


@pytest.mark.parametrize(
    ("line", "column"),
    [
        ("ada@example.com,A\x00da,Lovelace", "first_name"),
        ("ada@exam\x00ple.com,Ada,Lovelace", "email"),
        ("ada@example.com,Ada,Love\x00lace", "last_name"),
    ],
)
def test_it_reports_a_nul_byte_as_an_error_of_its_row(
    upcoming_cohort: Cohort, admin: User, line: str, column: str
) -> None:
    data = csv_of("grace@example.com,Grace,Hopper", line)
    label = {"email": "e-mail address", "first_name": "first name", "last_name": "last name"}

    # Through the whole import, on whatever database the suite runs (PostgreSQL refuses
    # NUL in text): an error of the row, never a database error.
    with pytest.raises(CsvInvalid) as caught:
        import_csv(upcoming_cohort, data, by=admin, send_invites=False)

    assert [(e.row, e.column, e.message) for e in caught.value.errors] == [
        (
            3,
            column,
            f"The {label[column]} contains a NUL character (a zero byte); save the file again "
            "as plain CSV text.",
        )
    ]
    assert not Enrolment.objects.exists()


def test_it_reports_a_nul_byte_in_the_header(upcoming_cohort: Cohort) -> None:
    data = b"email,first_na\x00me,last_name\nada@example.com,Ada,Lovelace\n"

    assert errors_of(upcoming_cohort, data) == [
        (
            1,
            None,
            "The header contains a NUL character (a zero byte); save the file again as plain "
            "CSV text. The first line must be the header email,first_name,last_name.",
        )
    ]
