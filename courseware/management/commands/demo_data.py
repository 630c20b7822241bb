from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils import timezone

from courseware import cohort_labs
from courseware.invites import make_token
from courseware.models import Cohort, Course, Enrolment
from courseware.models.cohort import INSTRUCTORS_GROUP
from labs import provisioning
from labs.models import Cluster

DEMO_PASSWORD = "lotse-demo"
TRAINEES = [("anna", "Anna", "Schmidt"), ("ben", "Ben", "Okafor"), ("chen", "Chen", "Li")]


class Command(BaseCommand):
    help = "Create a demo cohort with an admin, an instructor and trainees (DEBUG only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="URL to print")
        parser.add_argument(
            "--cluster-kubeconfig", type=Path, help="register this cluster for the demo cohort"
        )
        parser.add_argument("--cluster-name", default="Development cluster")
        parser.add_argument(
            "--provision", action="store_true", help="provision the demo cohort's labs on it"
        )

    def handle(
        self,
        *args: Any,
        url: str,
        cluster_kubeconfig: Path | None,
        cluster_name: str,
        provision: bool,
        **options: Any,
    ) -> None:
        if not settings.DEBUG:
            raise CommandError("demo accounts have a published password: DEBUG only")
        course = Course.objects.order_by("title").first()
        if course is None:
            raise CommandError("no course loaded: run `manage.py sync_course` first")

        admin = self._user("admin", "Ada", "Admin", is_staff=True, is_superuser=True)
        instructor = self._user("instructor", "Ivan", "Instructor")
        instructor.groups.add(Group.objects.get(name=INSTRUCTORS_GROUP))
        cohort = self._cohort(course)
        cohort.instructors.add(instructor)
        trainees = [self._user(*names) for names in TRAINEES]
        for trainee in trainees:
            Enrolment.objects.update_or_create(
                cohort=cohort,
                trainee=trainee,
                defaults={"state": Enrolment.State.ACTIVE, "accepted_at": timezone.now()},
            )
        # One trainee still has an open invite, to try the way in.
        newcomer = User.objects.get_or_create(
            username="dana@example.com",
            defaults={"email": "dana@example.com", "first_name": "Dana", "last_name": "Diaz"},
        )[0]
        newcomer.set_unusable_password()
        newcomer.save()
        invite, _ = Enrolment.objects.update_or_create(
            cohort=cohort,
            trainee=newcomer,
            defaults={
                "state": Enrolment.State.INVITED,
                "accepted_at": None,
                "invited_at": timezone.now(),
            },
        )

        if cluster_kubeconfig:
            self._cluster(cohort, cluster_kubeconfig, cluster_name, provision)

        base = url.rstrip("/")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Lotse is starting at {url}"))
        self.stdout.write(f"  demo cohort: {base}{cohort.get_absolute_url()}")
        self.stdout.write(f"  admin:       {base}/admin/")
        self.stdout.write(f"  logins (password {DEMO_PASSWORD} for all):")
        self.stdout.write(f"    {admin.username:<12} admin")
        self.stdout.write(f"    {instructor.username:<12} instructor of {cohort.name}")
        for trainee in trainees:
            self.stdout.write(f"    {trainee.username:<12} trainee")
        invite_path = reverse("courseware:invite", args=[make_token(invite)])
        self.stdout.write(f"  an open invite (Dana): {base}{invite_path}")
        if settings.CHECK_WATCHER_IN_PROCESS:
            where = "inside the web server (in-memory channel layer; CHECK_WATCHER_IN_PROCESS)"
        else:
            where = "in `manage.py watch_checks`: start it beside the web server"
        self.stdout.write(f"  live checks: the check watcher runs {where}")
        self.stdout.write("")

    def _cluster(self, cohort: Cohort, kubeconfig: Path, name: str, provision: bool) -> None:
        cluster, _ = Cluster.objects.get_or_create(name=name)
        cluster.set_kubeconfig(kubeconfig.expanduser().read_text())
        cluster.save()
        cohort.cluster = cluster
        # The course's own Pod Security level (course.yaml) applies: no override here.
        cohort.pod_security = ""
        cohort.save()
        if not provision:
            self.stdout.write(f"Cluster {name!r} registered; provision labs from the admin.")
            return
        labs = cohort_labs.ensure_labs(cohort)
        run = provisioning.run_each([lab.pk for lab in labs], provisioning.provision)
        self.stdout.write(f"Labs on {name}: {len(run.done)} ready, {len(run.failed)} failed")
        for namespace, error in run.failed.items():
            self.stderr.write(f"  {namespace}: {error}")

    def _user(self, username: str, first: str, last: str, **flags: bool) -> User:
        user, _ = User.objects.get_or_create(username=username)
        user.first_name, user.last_name = first, last
        user.email = f"{username}@example.com"
        for flag, value in flags.items():
            setattr(user, flag, value)
        user.set_password(DEMO_PASSWORD)
        user.save()
        return user

    def _cohort(self, course: Course) -> Cohort:
        # It runs today and the next two days, so "today" is always highlighted.
        tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        midnight = timezone.now().astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        cohort, _ = Cohort.objects.update_or_create(
            slug="demo-class",
            defaults={
                "name": "Demo class",
                "course": course,
                "starts_at": midnight,
                "ends_at": midnight + dt.timedelta(days=3),
                "timezone": settings.TIME_ZONE,
            },
        )
        return cohort
