"""The ASGI application serves HTTP through Django, and the Redis channel layer carries group
messages between processes (against the real Redis)."""

from __future__ import annotations

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
