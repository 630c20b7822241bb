"""The invite link's page: a trainee sets a password and lands on the cohort page.

A trainee who has a password already (enrolled in a second cohort, say) is asked to log in;
back on the link, logged in as themselves, one click joins the cohort. Every way a link can
fail gets its own page saying what happened and what to do next, with a 4xx status so that
nothing (monitoring, a mail scanner, the browser) takes it for a working page.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from courseware import invites
from courseware.invites import InviteProblem
from courseware.models import Enrolment

# Gone: the link was real but will not work again. Bad request: it never was a link of ours.
PROBLEM_STATUS = {
    InviteProblem.TAMPERED: 400,
    InviteProblem.EXPIRED: 410,
    InviteProblem.USED: 410,
    InviteProblem.STALE: 410,
    InviteProblem.REMOVED: 410,
    # The link is fine but will not touch this account: forbidden, or log in first.
    InviteProblem.DEACTIVATED: 403,
    InviteProblem.STAFF: 403,
    InviteProblem.HAS_PASSWORD: 409,
}

# The password is a credential of the password backend; naming it keeps login() working if
# another backend (SSO, say) is added to AUTHENTICATION_BACKENDS later.
PASSWORD_BACKEND = "courseware.auth.EmailOrUsernameBackend"


@never_cache  # the page carries a one-time credential in its URL
@sensitive_post_parameters("new_password1", "new_password2")
@require_http_methods(["GET", "HEAD", "POST"])
def accept(request: HttpRequest, token: str) -> HttpResponse:
    check = invites.check_token(token)
    if check.problem == InviteProblem.HAS_PASSWORD and _is_trainee(request, check.enrolment):
        return _join(request, check.enrolment)
    if not check.ok:
        return _problem(request, check.problem, check.enrolment)
    enrolment = check.enrolment
    assert enrolment is not None
    trainee = enrolment.trainee
    if request.method == "POST":
        form = SetPasswordForm(trainee, request.POST)
        if form.is_valid():
            try:
                user = invites.accept(enrolment, form.cleaned_data["new_password1"])
            except invites.InviteRefused as refused:
                return _problem(request, refused.problem, enrolment)
            # Replaces whoever was logged in in this browser (login() flushes their session).
            login(request, user, backend=PASSWORD_BACKEND)
            return redirect(enrolment.cohort.get_absolute_url())
    else:
        form = SetPasswordForm(trainee)
    current = request.user
    context = {
        "enrolment": enrolment,
        "cohort": enrolment.cohort,
        "trainee": trainee,
        "form": form,
        "other_user": current if current.is_authenticated and current.pk != trainee.pk else None,
    }
    return render(request, "courseware/invite_accept.html", context)


def _is_trainee(request: HttpRequest, enrolment: Enrolment | None) -> bool:
    """Whether the browser is logged in as the trainee the invite is for."""
    return bool(
        enrolment and request.user.is_authenticated and request.user.pk == enrolment.trainee_id
    )


def _join(request: HttpRequest, enrolment: Enrolment) -> HttpResponse:
    """The invited trainee, logged in with the password they have: one click to join."""
    if request.method == "POST":
        try:
            invites.join(enrolment, request.user)
        except invites.InviteRefused as refused:
            return _problem(request, refused.problem, enrolment)
        return redirect(enrolment.cohort.get_absolute_url())
    context = {"enrolment": enrolment, "cohort": enrolment.cohort, "trainee": request.user}
    return render(request, "courseware/invite_join.html", context)


def _problem(
    request: HttpRequest, problem: InviteProblem | None, enrolment: Enrolment | None
) -> HttpResponse:
    assert problem is not None
    context = {
        "problem": problem.value,
        "enrolment": enrolment,
        "cohort": enrolment.cohort if enrolment else None,
        "trainee": enrolment.trainee if enrolment else None,
        "days": settings.INVITE_MAX_AGE_DAYS,
        # A trainee who used the link and is still logged in goes straight to the cohort.
        "is_trainee": _is_trainee(request, enrolment),
        # Logging in leads back to this link, where a trainee with a password joins.
        "invite_path": request.path,
    }
    return render(
        request, "courseware/invite_problem.html", context, status=PROBLEM_STATUS[problem]
    )
