"""Who may see what: the one place that decides access to course pages.

Views call these functions (through ``course_view``) and websocket consumers will call
them in ``connect()``; no view decides access on its own. Until cohorts exist the course
is public, so every rule here currently admits everyone; the cohorts issue replaces the
bodies, and the access-matrix test keeps every URL accounted for.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from courseware.models import Course

P = ParamSpec("P")
User = AbstractBaseUser | AnonymousUser


def can_view_course(user: User, course: Course) -> bool:
    """Agenda, slides and exercises of ``course``."""
    return True


def course_view(
    view: Callable[Concatenate[HttpRequest, Course, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, str, P], HttpResponse]:
    """Resolve the ``course`` URL argument and let only those through who may view it."""

    @wraps(view)
    def wrapper(
        request: HttpRequest, course: str, *args: P.args, **kwargs: P.kwargs
    ) -> HttpResponse:
        obj = get_object_or_404(Course, slug=course)
        if not can_view_course(request.user, obj):
            raise PermissionDenied
        return view(request, obj, *args, **kwargs)

    return wrapper
