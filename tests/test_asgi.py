"""The ASGI application serves HTTP through Django, and the Redis channel layer carries group
messages between processes (against the real Redis)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from channels_redis.core import RedisChannelLayer

from courseware.asgi import application
from courseware.models import Course
from tests.factories import redis_url


@pytest.mark.django_db(transaction=True)
def test_it_serves_pages_over_asgi(fixture_course: Course) -> None:
    async def get(path: str) -> dict:
        return await HttpCommunicator(
            application, "GET", path, headers=[(b"host", b"localhost")]
        ).get_response()

    agenda = async_to_sync(get)(fixture_course.get_absolute_url())
    login = async_to_sync(get)("/accounts/login/")

    assert agenda["status"] == 302
    assert login["status"] == 200
    assert b"Log in" in login["body"]


def test_it_fans_group_messages_out_through_redis() -> None:
    group = f"lotse-test-{uuid.uuid4().hex}"
    sender = RedisChannelLayer(hosts=[redis_url()])
    receiver = RedisChannelLayer(hosts=[redis_url()])

    async def round_trip() -> dict:
        channel = await receiver.new_channel()
        await receiver.group_add(group, channel)
        await sender.group_send(group, {"type": "task.state", "task": "first-pod/create-pod"})
        message = await receiver.receive(channel)
        await receiver.group_discard(group, channel)
        await sender.close_pools()
        await receiver.close_pools()
        return message

    assert async_to_sync(round_trip)() == {"type": "task.state", "task": "first-pod/create-pod"}


def test_it_keeps_a_websocket_listening_on_redis_through_quiet_spells() -> None:
    """channels_redis waits for a message 5 s at a time; the connection must outlast that."""
    shown = subprocess.run(
        [sys.executable, "-c", "import django, json; django.setup(); "
         "from django.conf import settings; print(json.dumps(settings.CHANNEL_LAYERS))"],
        env={**os.environ, "DEBUG": "1", "REDIS_URL": redis_url(),
             "DJANGO_SETTINGS_MODULE": "courseware.settings"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    config = json.loads(shown.stdout)["default"]["CONFIG"]
    layer = RedisChannelLayer(**config)

    async def quiet_then_message() -> dict:
        channel = await layer.new_channel()
        later = asyncio.get_running_loop().call_later(
            RedisChannelLayer.brpop_timeout + 1,
            lambda: asyncio.ensure_future(layer.send(channel, {"type": "hello"})),
        )
        try:
            return await layer.receive(channel)
        finally:
            later.cancel()
            await layer.close_pools()

    assert async_to_sync(quiet_then_message)() == {"type": "hello"}
