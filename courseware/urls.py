from django.contrib import admin
from django.urls import include, path

from courseware import invite_views, views

courseware_patterns = [
    path("", views.home, name="home"),
    path("cohorts/<slug:cohort>/", views.cohort, name="cohort"),
    path("invite/<str:token>/", invite_views.accept, name="invite"),
    path("courses/<slug:course>/", views.agenda, name="agenda"),
    path("courses/<slug:course>/modules/<slug:module>/slides/", views.slides, name="slides"),
    path("courses/<slug:course>/exercises/<slug:exercise>/", views.exercise, name="exercise"),
]

urlpatterns = [
    path("", include((courseware_patterns, "courseware"))),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
