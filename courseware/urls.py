from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from courseware import dashboard_views, invite_views, progress_views, views

courseware_patterns = [
    path("", views.home, name="home"),
    path("cohorts/<slug:cohort>/", views.cohort, name="cohort"),
    path("cohorts/<slug:cohort>/kubeconfig/", views.kubeconfig, name="kubeconfig"),
    path(
        "cohorts/<slug:cohort>/trainees/<int:enrolment>/terminal/",
        views.trainee_terminal,
        name="trainee_terminal",
    ),
    path("cohorts/<slug:cohort>/dashboard/", dashboard_views.page, name="dashboard"),
    path(
        "cohorts/<slug:cohort>/dashboard/export.csv",
        dashboard_views.export,
        name="dashboard_export",
    ),
    path(
        "cohorts/<slug:cohort>/dashboard/trainees/<int:enrolment>/reset/",
        dashboard_views.reset_lab,
        name="dashboard_reset_lab",
    ),
    path(
        "cohorts/<slug:cohort>/dashboard/trainees/<int:enrolment>/check/",
        dashboard_views.rerun_checks,
        name="dashboard_rerun_checks",
    ),
    path(
        "cohorts/<slug:cohort>/dashboard/trainees/<int:enrolment>/invite/",
        dashboard_views.resend_invite,
        name="dashboard_resend_invite",
    ),
    path(
        "cohorts/<slug:cohort>/dashboard/help/<int:help_request>/handled/",
        dashboard_views.help_handled,
        name="help_handled",
    ),
    path("invite/<str:token>/", invite_views.accept, name="invite"),
    path("courses/<slug:course>/", views.agenda, name="agenda"),
    path("courses/<slug:course>/modules/<slug:module>/slides/", views.slides, name="slides"),
    path("courses/<slug:course>/exercises/<slug:exercise>/", views.exercise, name="exercise"),
    path(
        "courses/<slug:course>/exercises/<slug:exercise>/help/",
        progress_views.raise_hand,
        name="raise_hand",
    ),
    path(
        "courses/<slug:course>/exercises/<slug:exercise>/tasks/<slug:task>/check/",
        progress_views.check_task,
        name="check_task",
    ),
    path(
        "courses/<slug:course>/exercises/<slug:exercise>/tasks/<slug:task>/<slug:what>/opened/",
        progress_views.task_opened,
        name="task_opened",
    ),
]

urlpatterns = [
    path("", include((courseware_patterns, "courseware"))),
    path("favicon.ico", views.favicon, name="favicon"),
    # Reset links point at SITE_URL, not at whatever Host header the request carried.
    path(
        "accounts/password_reset/",
        auth_views.PasswordResetView.as_view(
            extra_email_context={
                "domain": urlsplit(settings.SITE_URL).netloc,
                "protocol": urlsplit(settings.SITE_URL).scheme,
            }
        ),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
