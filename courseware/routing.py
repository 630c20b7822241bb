"""Websocket routes. The terminal and live-check consumers will be added here; every
consumer checks who is asking through ``courseware.access`` in ``connect()``."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
