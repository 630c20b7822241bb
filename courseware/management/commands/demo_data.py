from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from courseware.models import Course

DEMO_PASSWORD = "lotse-demo"


class Command(BaseCommand):
    help = "Create the demo accounts (DEBUG only) and print where to log in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="URL to print")

    def handle(self, *args: Any, url: str, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo accounts have a published password: DEBUG only")
        User = get_user_model()
        admin, _ = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@example.com"}
        )
        admin.is_staff = admin.is_superuser = True
        admin.set_password(DEMO_PASSWORD)
        admin.save()

        course = Course.objects.order_by("title").first()
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Lotse is starting at {url}"))
        if course:
            self.stdout.write(f"  course agenda:  {url.rstrip('/')}{course.get_absolute_url()}")
        self.stdout.write(f"  admin:          {url.rstrip('/')}/admin/")
        self.stdout.write(f"  demo login:     admin / {DEMO_PASSWORD}  (admin)")
        self.stdout.write("")
