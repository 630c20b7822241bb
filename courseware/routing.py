"""Websocket routes. Every consumer checks who is asking through ``courseware.access`` in
``connect()``; ``courseware.asgi`` checks the origin and loads the user first."""

from django.urls import URLPattern, path

from courseware.consumers import TerminalConsumer
from courseware.dashboard_consumers import DashboardConsumer
from courseware.present_consumers import PresentConsumer
from courseware.progress_consumers import ProgressConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/labs/<int:lab>/terminal/", TerminalConsumer.as_asgi(), name="terminal"),
    path("ws/labs/<int:lab>/progress/", ProgressConsumer.as_asgi(), name="progress"),
    path("ws/cohorts/<int:cohort>/dashboard/", DashboardConsumer.as_asgi(), name="dashboard"),
    path("ws/cohorts/<int:cohort>/present/", PresentConsumer.as_asgi(), name="present"),
]
