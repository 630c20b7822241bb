from django.contrib import admin
from django.urls import include, path

from courseware import views

courseware_patterns = [
    path("", views.home, name="home"),
    path("courses/<slug:course>/", views.agenda, name="agenda"),
    path("courses/<slug:course>/modules/<slug:module>/slides/", views.slides, name="slides"),
    path("courses/<slug:course>/exercises/<slug:exercise>/", views.exercise, name="exercise"),
]

urlpatterns = [
    path("", include((courseware_patterns, "courseware"))),
    path("admin/", admin.site.urls),
]
