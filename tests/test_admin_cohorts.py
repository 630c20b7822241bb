"""The admins' interface for cohorts: lists with counts and filters, the CSV import page with
its permission, the enrolment actions, and instructors narrowed to their own cohorts."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courseware.admin import MAX_UPLOAD_BYTES, ImportForm
from courseware.models import Cohort, Course, Enrolment
from labs import provisioning
from labs.models import Cluster, Lab
from simcluster import KubeStandIn
from tests.factories import client_for, make_cohort, make_user, wait_for

pytestmark = pytest.mark.django_db

COHORTS = "/admin/courseware/cohort/"
ENROLMENTS = "/admin/courseware/enrolment/"


def staff(username: str, *permissions: str) -> User:
    user = make_user(username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="courseware", codename__in=permissions)
    )
    return user


@pytest.fixture
def other_staff_without_permissions() -> User:
    """Manages cohorts and enrolments, but may not import trainees."""
    return staff(
        "other_staff_without_permissions",
        "view_cohort",
        "change_cohort",
        "view_enrolment",
        "change_enrolment",
    )


@pytest.fixture
def berlin_march(fixture_course: Course, instructor: User) -> Cohort:
    """Running since yesterday, taught by the instructor, with two trainees enrolled and one
    removed."""
    cohort = make_cohort(fixture_course, "berlin-march", days_from_now=-1)
    cohort.instructors.add(instructor)
    for name in ("ada", "grace", "alan"):
        Enrolment.objects.create(
            cohort=cohort,
            trainee=User.objects.create_user(name, f"{name}@example.com", first_name=name.title()),
            state=Enrolment.State.REMOVED if name == "alan" else Enrolment.State.INVITED,
        )
    return cohort


def enrolment_of(cohort: Cohort, username: str) -> Enrolment:
    return Enrolment.objects.get(cohort=cohort, trainee__username=username)


def upload(content: bytes, name: str = "trainees.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def cohort_form(cohort: Cohort, inline_formsets: Any, new_trainees: list[User]) -> dict[str, Any]:
    """The cohort's change form as the browser posts it, enrolling ``new_trainees`` in the
    "Enrol existing users" inline."""
    existing, new = inline_formsets
    starts, ends = cohort.starts_at, cohort.ends_at
    data: dict[str, Any] = {
        "name": cohort.name,
        "slug": cohort.slug,
        "course": cohort.course_id,
        "starts_at_0": f"{starts:%Y-%m-%d}",
        "starts_at_1": f"{starts:%H:%M:%S}",
        "ends_at_0": f"{ends:%Y-%m-%d}",
        "ends_at_1": f"{ends:%H:%M:%S}",
        "timezone": cohort.timezone,
        "instructors": [user.pk for user in cohort.instructors.all()],
        "cluster": cohort.cluster_id or "",
        "lab_profile": cohort.lab_profile,
        "pod_security": cohort.pod_security,
    }
    for formset, forms in ((existing.formset, existing.formset.forms), (new.formset, [])):
        data |= {
            f"{formset.prefix}-TOTAL_FORMS": len(forms) or len(new_trainees),
            f"{formset.prefix}-INITIAL_FORMS": len(forms),
            f"{formset.prefix}-MIN_NUM_FORMS": 0,
            f"{formset.prefix}-MAX_NUM_FORMS": 1000,
        }
    for index, form in enumerate(existing.formset.forms):
        data[f"{existing.formset.prefix}-{index}-id"] = form.instance.pk
        data[f"{existing.formset.prefix}-{index}-cohort"] = cohort.pk
    for index, user in enumerate(new_trainees):
        data[f"{new.formset.prefix}-{index}-cohort"] = cohort.pk
        data[f"{new.formset.prefix}-{index}-trainee"] = user.pk
    return data


def test_it_lists_cohorts_with_state_and_counts(admin: User, berlin_march: Cohort) -> None:
    response = client_for(admin).get(COHORTS)

    assert response.status_code == 200
    assert "Berlin March" in response.text
    assert '<td class="field-state">Running</td>' in response.text
    assert '<td class="field-trainee_count">2</td>' in response.text
    assert '<td class="field-instructor_count">1</td>' in response.text


def test_it_lists_cohorts_with_a_fixed_number_of_queries(
    admin: User, berlin_march: Cohort, fixture_course: Course
) -> None:
    client = client_for(admin)
    with CaptureQueriesContext(connection) as one:
        client.get(COHORTS)
    for n in range(4):
        make_cohort(fixture_course, f"extra-{n}", days_from_now=30 + n).instructors.add(
            *berlin_march.instructors.all()
        )

    with CaptureQueriesContext(connection) as five:
        response = client.get(COHORTS)

    assert response.text.count('class="field-trainee_count"') == 5
    assert len(five) == len(one)


@pytest.mark.parametrize(
    ("state", "shown", "hidden"),
    [
        ("running", "Berlin March", "Hamburg May"),
        ("upcoming", "Hamburg May", "Berlin March"),
        ("finished", "Munich January", "Hamburg May"),
    ],
)
def test_it_filters_cohorts_by_state(
    admin: User, berlin_march: Cohort, fixture_course: Course, state: str, shown: str, hidden: str
) -> None:
    make_cohort(fixture_course, "hamburg-may", days_from_now=60)
    make_cohort(fixture_course, "munich-january", days_from_now=-60)

    response = client_for(admin).get(COHORTS, {"state": state})

    assert response.status_code == 200
    assert f">{shown}</a>" in response.text
    assert f">{hidden}</a>" not in response.text


def test_it_finds_a_cohort_by_a_trainee_address(
    admin: User, berlin_march: Cohort, fixture_course: Course
) -> None:
    other = make_cohort(fixture_course, "hamburg-may", days_from_now=60)
    Enrolment.objects.create(cohort=other, trainee=User.objects.get(username="ada"))

    response = client_for(admin).get(COHORTS, {"q": "grace@example"})

    assert ">Berlin March</a>" in response.text
    assert ">Hamburg May</a>" not in response.text
    assert response.text.count('class="field-trainee_count"') == 1


def test_it_shows_a_cohort_with_its_enrolments_and_the_import_button(
    admin: User, berlin_march: Cohort
) -> None:
    response = client_for(admin).get(f"{COHORTS}{berlin_march.pk}/change/")

    assert response.status_code == 200
    for username in ("ada", "grace", "alan"):
        assert f">{username}</a>" in response.text
    assert f'href="{COHORTS}{berlin_march.pk}/import/"' in response.text
    assert "Import trainees (CSV)" in response.text
    assert f"{ENROLMENTS}?cohort__id__exact={berlin_march.pk}" in response.text


def test_it_shows_a_cohort_with_a_fixed_number_of_queries(
    admin: User, berlin_march: Cohort
) -> None:
    client = client_for(admin)
    client.get(f"{COHORTS}{berlin_march.pk}/change/")
    with CaptureQueriesContext(connection) as three:
        client.get(f"{COHORTS}{berlin_march.pk}/change/")
    for n in range(20):
        user = User.objects.create_user(f"trainee{n}", f"trainee{n}@example.com")
        Enrolment.objects.create(cohort=berlin_march, trainee=user)

    with CaptureQueriesContext(connection) as twenty_three:
        response = client.get(f"{COHORTS}{berlin_march.pk}/change/")

    assert all(f">trainee{n}</a>" in response.text for n in range(20))
    assert len(twenty_three) == len(three)


def test_it_enrols_from_the_cohort_page_but_takes_no_state_from_it(
    admin: User,
    berlin_march: Cohort,
    django_capture_on_commit_callbacks: Any,
    mailoutbox: list[mail.EmailMessage],
) -> None:
    mary = User.objects.create_user("mary", "mary@example.com")
    client = client_for(admin)
    page = client.get(f"{COHORTS}{berlin_march.pk}/change/")
    existing, new = page.context["inline_admin_formsets"]
    starts, ends = berlin_march.starts_at, berlin_march.ends_at
    data = {
        "name": berlin_march.name,
        "slug": berlin_march.slug,
        "course": berlin_march.course_id,
        "starts_at_0": f"{starts:%Y-%m-%d}",
        "starts_at_1": f"{starts:%H:%M:%S}",
        "ends_at_0": f"{ends:%Y-%m-%d}",
        "ends_at_1": f"{ends:%H:%M:%S}",
        "timezone": berlin_march.timezone,
        "instructors": [user.pk for user in berlin_march.instructors.all()],
        "lab_profile": berlin_march.lab_profile,
        "pod_security": berlin_march.pod_security,
    }
    for formset in (existing.formset, new.formset):
        prefix = formset.prefix
        data |= {
            f"{prefix}-TOTAL_FORMS": len(formset.forms) + (1 if formset is new.formset else 0),
            f"{prefix}-INITIAL_FORMS": len(formset.forms) if formset is existing.formset else 0,
            f"{prefix}-MIN_NUM_FORMS": 0,
            f"{prefix}-MAX_NUM_FORMS": 1000,
        }
    # A state posted for an existing enrolment (as the old form had it) must change nothing:
    # removal goes through its action, which tears the lab down as well.
    for index, form in enumerate(existing.formset.forms):
        data |= {
            f"{existing.formset.prefix}-{index}-id": form.instance.pk,
            f"{existing.formset.prefix}-{index}-cohort": berlin_march.pk,
            f"{existing.formset.prefix}-{index}-state": Enrolment.State.REMOVED,
        }
    data |= {
        f"{new.formset.prefix}-0-cohort": berlin_march.pk,
        f"{new.formset.prefix}-0-trainee": mary.pk,
        f"{new.formset.prefix}-0-state": Enrolment.State.ACTIVE,
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{COHORTS}{berlin_march.pk}/change/", data)

    assert response.status_code == 302, response.context["errors"]
    assert [message.to for message in mailoutbox] == [["mary@example.com"]]
    ada = enrolment_of(berlin_march, "ada")
    assert (ada.state, ada.removed_at) == (Enrolment.State.INVITED, None)
    assert enrolment_of(berlin_march, "grace").state == Enrolment.State.INVITED
    assert enrolment_of(berlin_march, "mary").state == Enrolment.State.INVITED
    entry = LogEntry.objects.get(content_type__model="cohort")
    assert "Added enrolment “mary in Berlin March”." in entry.get_change_message()


def test_it_hides_the_import_button_without_the_permission(
    other_staff_without_permissions: User, berlin_march: Cohort
) -> None:
    response = client_for(other_staff_without_permissions).get(
        f"{COHORTS}{berlin_march.pk}/change/"
    )

    assert response.status_code == 200
    assert "Import trainees (CSV)" not in response.text


def test_it_shows_the_import_page_in_the_admin(admin: User, berlin_march: Cohort) -> None:
    response = client_for(admin).get(f"{COHORTS}{berlin_march.pk}/import/")

    assert response.status_code == 200
    assert "<title>Import trainees into Berlin March | Django site admin</title>" in response.text
    assert f'<a href="{COHORTS}{berlin_march.pk}/change/">Berlin March</a>' in response.text
    assert "email,first_name,last_name" in response.text
    assert 'type="file" name="file"' in response.text
    assert 'id="id_send_invites" checked' in response.text


def test_it_imports_a_good_file_and_invites(
    admin: User,
    berlin_march: Cohort,
    django_capture_on_commit_callbacks: Callable,
    mailoutbox: list[mail.EmailMessage],
) -> None:
    data = b"email,first_name,last_name\nmary@example.com,Mary,Jackson\nALAN@example.com,Alan,T\n"
    client = client_for(admin)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{COHORTS}{berlin_march.pk}/import/", {"file": upload(data), "send_invites": "on"}
        )

    assert response.status_code == 302
    assert response["Location"] == f"{COHORTS}{berlin_march.pk}/change/"
    assert enrolment_of(berlin_march, "mary@example.com").state == Enrolment.State.INVITED
    assert enrolment_of(berlin_march, "alan").state == Enrolment.State.INVITED
    assert sorted(message.to[0] for message in mailoutbox) == [
        "alan@example.com",
        "mary@example.com",
    ]
    assert LogEntry.objects.get(content_type__model="cohort").get_change_message() == (
        "Imported 2 trainees from trainees.csv"
    )
    page = client.get(response["Location"])
    assert "Imported 2 trainees; each gets an invite by e-mail." in page.text


def test_it_imports_without_invites_when_unticked(
    admin: User, berlin_march: Cohort, mailoutbox: list[mail.EmailMessage]
) -> None:
    data = b"email,first_name,last_name\nmary@example.com,Mary,Jackson\n"

    response = client_for(admin).post(
        f"{COHORTS}{berlin_march.pk}/import/", {"file": upload(data)}, follow=True
    )

    assert "Imported 1 trainee." in response.text
    assert mailoutbox == []
    assert enrolment_of(berlin_march, "mary@example.com").invited_at is None


def test_it_lists_every_problem_of_a_broken_file_and_imports_nothing(
    admin: User, berlin_march: Cohort
) -> None:
    data = (
        b"email,first_name,last_name\n"
        b"mary@example.com,Mary,Jackson\n"
        b"katherine,Katherine,Johnson\n"
        b"ada@example.com,Ada,\n"
    )
    users_before = User.objects.count()

    response = client_for(admin).post(f"{COHORTS}{berlin_march.pk}/import/", {"file": upload(data)})

    assert response.status_code == 200
    assert "Nothing was imported: the file has 3 problems." in response.text
    rows = [
        "<tr><td>3</td><td>email</td><td>“katherine” is not a valid e-mail address.</td></tr>",
        "<tr><td>4</td><td>email</td>"
        "<td>ada@example.com is already enrolled in this cohort (invited).</td></tr>",
        "<tr><td>4</td><td>last_name</td><td>The last name is missing.</td></tr>",
    ]
    for row in rows:
        assert row in response.text
    assert User.objects.count() == users_before
    assert not Enrolment.objects.filter(trainee__email="mary@example.com").exists()
    assert not LogEntry.objects.exists()


def test_it_requires_a_file(admin: User, berlin_march: Cohort) -> None:
    response = client_for(admin).post(f"{COHORTS}{berlin_march.pk}/import/", {})

    assert response.status_code == 200
    assert "This field is required." in response.text


def test_it_forbids_the_import_without_the_permission(
    other_staff_without_permissions: User, berlin_march: Cohort
) -> None:
    client = client_for(other_staff_without_permissions)
    data = b"email,first_name,last_name\nmary@example.com,Mary,Jackson\n"

    assert client.get(f"{COHORTS}{berlin_march.pk}/import/").status_code == 403
    assert (
        client.post(f"{COHORTS}{berlin_march.pk}/import/", {"file": upload(data)}).status_code
        == 403
    )
    assert not User.objects.filter(email="mary@example.com").exists()


def test_it_forbids_the_import_without_change_permission(berlin_march: Cohort) -> None:
    viewer = staff("viewer", "view_cohort", "import_trainees")

    assert client_for(viewer).get(f"{COHORTS}{berlin_march.pk}/import/").status_code == 403


def test_it_sends_anonymous_users_to_the_admin_login(berlin_march: Cohort) -> None:
    response = client_for(None).get(f"{COHORTS}{berlin_march.pk}/import/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_it_redirects_the_import_of_a_missing_cohort(admin: User) -> None:
    response = client_for(admin).get(f"{COHORTS}9999/import/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_it_resends_invites_to_pending_trainees_only(
    admin: User,
    berlin_march: Cohort,
    django_capture_on_commit_callbacks: Callable,
    mailoutbox: list[mail.EmailMessage],
) -> None:
    grace = enrolment_of(berlin_march, "grace")
    grace.accepted_at = timezone.now()
    grace.save()
    selected = Enrolment.objects.filter(cohort=berlin_march).values_list("pk", flat=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post(
            ENROLMENTS, {"action": "send_invites", "_selected_action": list(selected)}, follow=True
        )

    assert (
        "A new invite goes out by e-mail to 1 trainee. Skipped 2: removed or already accepted."
        in response.text
    )
    assert [message.to for message in mailoutbox] == [["ada@example.com"]]
    assert "/invite/" in mailoutbox[0].body
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_repr, entry.change_message) == (
        CHANGE,
        "ada in Berlin March",
        "Sent the invite again",
    )


def test_it_removes_trainees_from_their_cohort_after_confirmation(
    admin: User, berlin_march: Cohort
) -> None:
    selected = Enrolment.objects.filter(cohort=berlin_march).values_list("pk", flat=True)
    form = {"action": "remove_from_cohort", "_selected_action": list(selected)}
    client = client_for(admin)

    asked = client.post(ENROLMENTS, form)

    assert asked.status_code == 200
    assert "Remove 2 trainees from their cohort?" in asked.text
    assert "<li>ada in Berlin March</li>" in asked.text
    assert "alan in Berlin March" not in asked.text
    assert enrolment_of(berlin_march, "ada").state == Enrolment.State.INVITED

    response = client.post(ENROLMENTS, {**form, "confirmed": "yes"}, follow=True)

    assert "Removed 2 trainees from their cohort. Skipped 1: already removed." in response.text
    ada = enrolment_of(berlin_march, "ada")
    assert ada.state == Enrolment.State.REMOVED
    assert ada.removed_at is not None
    assert LogEntry.objects.filter(action_flag=CHANGE).count() == 2


def test_it_tears_down_the_lab_of_a_trainee_removed_by_the_action(
    admin: User,
    berlin_march: Cohort,
    cluster: Cluster,
    standin: KubeStandIn,
    django_capture_on_commit_callbacks: Any,
) -> None:
    berlin_march.cluster = cluster
    berlin_march.save()
    ada = enrolment_of(berlin_march, "ada")
    lab = provisioning.ensure_lab(ada)
    provisioning.provision(lab.pk)

    with django_capture_on_commit_callbacks(execute=True):
        client_for(admin).post(
            ENROLMENTS,
            {"action": "remove_from_cohort", "_selected_action": [ada.pk], "confirmed": "yes"},
        )

    assert Lab.objects.get(pk=lab.pk).state == Lab.State.DELETED
    assert standin.get("v1", "Namespace", lab.namespace) is None


def test_it_offers_the_actions_only_with_change_permission(berlin_march: Cohort) -> None:
    viewer = staff("viewer", "view_cohort", "view_enrolment")

    response = client_for(viewer).get(ENROLMENTS)

    assert response.status_code == 200
    assert "Berlin March" in response.text
    assert 'value="remove_from_cohort"' not in response.text
    assert 'value="send_invites"' not in response.text


def test_it_takes_no_state_from_the_enrolment_change_form(
    admin: User, berlin_march: Cohort, cluster: Cluster, standin: KubeStandIn
) -> None:
    berlin_march.cluster = cluster
    berlin_march.save()
    ada = enrolment_of(berlin_march, "ada")
    lab = provisioning.ensure_lab(ada)
    provisioning.provision(lab.pk)
    client = client_for(admin)

    page = client.get(f"{ENROLMENTS}{ada.pk}/change/")
    response = client.post(f"{ENROLMENTS}{ada.pk}/change/", {"state": Enrolment.State.REMOVED})

    assert 'name="state"' not in page.text
    assert '<div class="readonly">Invited</div>' in page.text
    assert response.status_code == 302
    ada.refresh_from_db()
    assert (ada.state, ada.removed_at) == (Enrolment.State.INVITED, None)
    assert Lab.objects.get(pk=lab.pk).state == Lab.State.READY


def test_it_refuses_to_enrol_an_instructor_by_hand(
    admin: User, berlin_march: Cohort, instructor: User
) -> None:
    response = client_for(admin).post(
        f"{ENROLMENTS}add/",
        {"cohort": berlin_march.pk, "trainee": instructor.pk, "state": Enrolment.State.INVITED},
    )

    assert response.status_code == 200
    assert (
        "ivan_instructor is an instructor of this cohort and cannot also be its trainee."
        in response.text
    )
    assert not Enrolment.objects.filter(trainee=instructor).exists()


def test_it_shows_staff_instructors_only_their_own_cohorts(
    berlin_march: Cohort, instructor: User, fixture_course: Course
) -> None:
    # Without view_cohort the access policy does not count them as admins.
    instructor.is_staff = True
    instructor.save()
    instructor.user_permissions.set(
        Permission.objects.filter(codename__in=["change_cohort", "change_enrolment"])
    )
    other = make_cohort(fixture_course, "hamburg-may", days_from_now=60)
    Enrolment.objects.create(cohort=other, trainee=User.objects.get(username="ada"))
    client = client_for(instructor)

    cohorts = client.get(COHORTS)
    enrolments = client.get(ENROLMENTS)

    assert ">Berlin March</a>" in cohorts.text
    assert ">Hamburg May</a>" not in cohorts.text
    assert client.get(f"{COHORTS}{other.pk}/change/").status_code == 302  # "does not exist"
    assert enrolments.text.count('class="field-cohort nowrap"') == 3
    assert "Hamburg May</td>" not in enrolments.text


def test_it_lists_clusters_with_their_cohorts(admin: User, berlin_march: Cohort) -> None:
    berlin_march.cluster = Cluster.objects.create(name="training-1")
    berlin_march.save()

    response = client_for(admin).get("/admin/labs/cluster/")

    assert response.status_code == 200
    assert ">training-1</a>" in response.text
    assert '<td class="field-cohort_count">1</td>' in response.text


def test_it_invites_a_trainee_enrolled_from_the_enrolment_form(
    admin: User,
    berlin_march: Cohort,
    django_capture_on_commit_callbacks: Any,
    mailoutbox: list[mail.EmailMessage],
) -> None:
    nora = User.objects.create_user("nora", "nora@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post(
            f"{ENROLMENTS}add/",
            {"cohort": berlin_march.pk, "trainee": nora.pk, "state": Enrolment.State.INVITED},
        )

    assert response.status_code == 302
    assert [message.to for message in mailoutbox] == [["nora@example.com"]]
    assert enrolment_of(berlin_march, "nora").invited_at is not None


# -- deleting an enrolment (or its cohort) takes its lab off the cluster ------------------


@pytest.mark.parametrize(
    ("url", "form"),
    [
        (ENROLMENTS, {"action": "delete_selected", "post": "yes"}),
        (f"{ENROLMENTS}{{enrolment}}/delete/", {"post": "yes"}),
        (f"{COHORTS}{{cohort}}/delete/", {"post": "yes"}),
    ],
    ids=["delete selected enrolments", "delete one enrolment", "delete the cohort"],
)
def test_it_leaves_no_namespace_behind_when_an_enrolment_is_deleted(
    admin: User,
    berlin_march: Cohort,
    cluster: Cluster,
    standin: KubeStandIn,
    django_capture_on_commit_callbacks: Any,
    url: str,
    form: dict[str, str],
) -> None:
    berlin_march.cluster = cluster
    berlin_march.save()
    ada = enrolment_of(berlin_march, "ada")
    lab = provisioning.ensure_lab(ada)
    provisioning.provision(lab.pk)
    assert standin.get("v1", "Namespace", lab.namespace) is not None

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post(
            url.format(enrolment=ada.pk, cohort=berlin_march.pk),
            {**form, "_selected_action": [ada.pk]},
        )

    assert response.status_code == 302
    assert not Lab.objects.filter(pk=lab.pk).exists()
    wait_for(
        lambda: standin.get("v1", "Namespace", lab.namespace) is None,
        f"namespace {lab.namespace} to go",
    )
    assert (
        standin.get("rbac.authorization.k8s.io/v1", "ClusterRole", f"lotse:lab:{lab.namespace}")
        is None
    )


def test_it_queues_the_namespace_removal_only_once_the_deletion_commits(
    admin: User, berlin_march: Cohort, cluster: Cluster, standin: KubeStandIn
) -> None:
    berlin_march.cluster = cluster
    berlin_march.save()
    lab = provisioning.ensure_lab(enrolment_of(berlin_march, "ada"))
    provisioning.provision(lab.pk)

    def delete_then_fail() -> None:
        with transaction.atomic():
            Enrolment.objects.filter(pk=lab.enrolment_id).delete()
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        delete_then_fail()

    assert Lab.objects.filter(pk=lab.pk).exists()
    namespace = standin.get("v1", "Namespace", lab.namespace)
    assert namespace is not None
    assert "deletionTimestamp" not in namespace["metadata"]


# -- enrolling by hand: the service's rules, and labs for trainees of a cohort that is due -


def test_it_counts_ready_labs_against_the_live_trainees(admin: User, berlin_march: Cohort) -> None:
    berlin_march.cluster = Cluster.objects.create(name="training-1")
    berlin_march.save()
    Enrolment.objects.create(
        cohort=berlin_march, trainee=User.objects.create_user("mary", "mary@example.com")
    )
    for name, state in (("ada", Lab.State.READY), ("grace", Lab.State.FAILED)):
        Lab.objects.create(
            enrolment=enrolment_of(berlin_march, name),
            cluster=berlin_march.cluster,
            namespace=f"lab-{name}",
            state=state,
        )
    # A removed trainee's lab counts for nobody.
    Lab.objects.create(
        enrolment=enrolment_of(berlin_march, "alan"),
        cluster=berlin_march.cluster,
        namespace="lab-alan",
        state=Lab.State.READY,
    )

    response = client_for(admin).get(COHORTS)

    assert '<progress max="100" value="33">33%</progress> 1/3</span>' in response.text


def test_it_shows_no_lab_count_for_a_cohort_without_a_cluster(
    admin: User, berlin_march: Cohort
) -> None:
    response = client_for(admin).get(COHORTS)

    assert '<td class="field-labs">–</td>' in response.text


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("root", "root is a superuser; staff and superusers cannot be enrolled as trainees."),
        ("sam", "sam is a staff account; staff and superusers cannot be enrolled as trainees."),
        ("dee", "The account of dee is deactivated; reactivate it first."),
    ],
)
def test_it_refuses_staff_and_deactivated_accounts_in_the_enrolment_form(
    admin: User, berlin_march: Cohort, who: str, error: str
) -> None:
    user = {
        "root": lambda: User.objects.create_superuser("root", "root@example.com", "x"),
        "sam": lambda: make_user("sam", is_staff=True),
        "dee": lambda: make_user("dee", is_active=False),
    }[who]()

    response = client_for(admin).post(
        f"{ENROLMENTS}add/", {"cohort": berlin_march.pk, "trainee": user.pk}
    )

    assert response.status_code == 200
    assert error in html.unescape(response.text)
    assert not Enrolment.objects.filter(trainee=user).exists()


def test_it_refuses_a_superuser_in_the_cohort_inline(admin: User, berlin_march: Cohort) -> None:
    root = User.objects.create_superuser("root", "root@example.com", "x")
    client = client_for(admin)
    page = client.get(f"{COHORTS}{berlin_march.pk}/change/")
    data = cohort_form(berlin_march, page.context["inline_admin_formsets"], [root])

    response = client.post(f"{COHORTS}{berlin_march.pk}/change/", data)

    assert response.status_code == 200
    assert "root is a superuser; staff and superusers cannot be" in html.unescape(response.text)
    assert not Enrolment.objects.filter(trainee=root).exists()


def test_it_refuses_the_same_person_twice_in_the_cohort_inline(
    admin: User, berlin_march: Cohort
) -> None:
    mary = User.objects.create_user("mary", "mary@example.com")
    client = client_for(admin)
    page = client.get(f"{COHORTS}{berlin_march.pk}/change/")
    data = cohort_form(berlin_march, page.context["inline_admin_formsets"], [mary, mary])

    response = client.post(f"{COHORTS}{berlin_march.pk}/change/", data)

    assert response.status_code == 200
    assert "mary is listed more than once." in response.text
    assert not Enrolment.objects.filter(trainee=mary).exists()


def test_it_enrols_a_removed_trainee_again_from_the_enrolment_form(
    admin: User, berlin_march: Cohort
) -> None:
    alan = enrolment_of(berlin_march, "alan")

    response = client_for(admin).post(
        f"{ENROLMENTS}add/", {"cohort": berlin_march.pk, "trainee": alan.trainee_id}
    )

    assert response.status_code == 302
    assert response["Location"] == ENROLMENTS
    revived = enrolment_of(berlin_march, "alan")
    assert revived.pk == alan.pk
    assert (revived.state, revived.removed_at) == (Enrolment.State.INVITED, None)
    entry = LogEntry.objects.get(content_type__model="enrolment")
    assert entry.object_id == str(alan.pk)


@pytest.mark.parametrize("way", ["import", "enrolment form", "cohort inline"])
def test_it_provisions_the_labs_of_trainees_who_join_a_running_cohort(
    admin: User,
    berlin_march: Cohort,
    cluster: Cluster,
    standin: KubeStandIn,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    way: str,
) -> None:
    settings.LAB_PROVISION_CONCURRENCY = 1  # threads would not see this test's transaction
    berlin_march.cluster = cluster
    berlin_march.save()
    mary = User.objects.create_user("mary", "mary@example.com")
    client = client_for(admin)

    with django_capture_on_commit_callbacks(execute=True):
        if way == "import":
            data = b"email,first_name,last_name\nmary@example.com,Mary,Jackson\n"
            response = client.post(f"{COHORTS}{berlin_march.pk}/import/", {"file": upload(data)})
        elif way == "enrolment form":
            response = client.post(
                f"{ENROLMENTS}add/", {"cohort": berlin_march.pk, "trainee": mary.pk}
            )
        else:
            page = client.get(f"{COHORTS}{berlin_march.pk}/change/")
            data = cohort_form(berlin_march, page.context["inline_admin_formsets"], [mary])
            response = client.post(f"{COHORTS}{berlin_march.pk}/change/", data)

    assert response.status_code == 302
    lab = Lab.objects.get(enrolment__trainee=mary)
    assert lab.state == Lab.State.READY
    assert standin.get("v1", "Namespace", lab.namespace) is not None
    # Only the newcomer: the others' labs are the admin's or the schedule's business.
    assert Lab.objects.count() == 1


@pytest.mark.parametrize(
    ("hours_from_now", "has_cluster"),
    [(48, True), (-24 * 10, True), (-1, False)],
    ids=["starts in two days", "ended a week ago", "running without a cluster"],
)
def test_it_provisions_nothing_for_a_cohort_that_is_not_due(
    admin: User,
    fixture_course: Course,
    cluster: Cluster,
    standin: KubeStandIn,
    django_capture_on_commit_callbacks: Any,
    hours_from_now: int,
    has_cluster: bool,
) -> None:
    cohort = make_cohort(fixture_course, "later", hours_from_now=hours_from_now)
    if has_cluster:
        cohort.cluster = cluster
        cohort.save()
    data = b"email,first_name,last_name\nmary@example.com,Mary,Jackson\n"

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(admin).post(f"{COHORTS}{cohort.pk}/import/", {"file": upload(data)})

    assert response.status_code == 302
    assert Enrolment.objects.filter(cohort=cohort).count() == 1
    assert callbacks == []  # no invites asked for, and no labs queued
    assert not Lab.objects.exists()
    assert standin.requests == []


# -- the upload limit holds while the file is read ---------------------------------------


def test_it_refuses_an_upload_over_the_limit(admin: User, berlin_march: Cohort) -> None:
    row = b"someone@example.com,Some,One\n"
    data = b"email,first_name,last_name\n" + row * (MAX_UPLOAD_BYTES // len(row) + 1)

    response = client_for(admin).post(f"{COHORTS}{berlin_march.pk}/import/", {"file": upload(data)})

    assert response.status_code == 200
    assert "The file is larger than 2 MB; is it a CSV file?" in response.text
    assert not User.objects.filter(email="someone@example.com").exists()


def test_it_reads_no_more_than_the_limit_whatever_size_the_upload_claims() -> None:
    row = b"someone@example.com,Some,One\n"
    data = b"email,first_name,last_name\n" + row * (MAX_UPLOAD_BYTES // len(row) + 1)
    claims_small = upload(data)
    claims_small.size = 100  # as an upload handler that does not know the length might say

    form = ImportForm(data={}, files={"file": claims_small})

    assert not form.is_valid()
    assert form.errors["file"] == ["The file is larger than 2 MB; is it a CSV file?"]
    assert claims_small.tell() == MAX_UPLOAD_BYTES + 1


def test_it_takes_an_upload_of_exactly_the_limit() -> None:
    data = b"email,first_name,last_name\n".ljust(MAX_UPLOAD_BYTES, b"\n")

    form = ImportForm(data={}, files={"file": upload(data)})

    assert form.is_valid(), form.errors
    assert form.content == data
