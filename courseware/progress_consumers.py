"""The live results of a lab over a websocket: ``ws/labs/<lab id>/progress/``.

Admits whom ``courseware.access.can_follow_lab`` admits (the lab's trainee, the cohort's
instructors, admins) and refuses everyone else in ``connect`` with close code 4403. It joins
the lab's group first, then sends every current result, then each change as it is
published: a page that reconnects is brought back to the truth, and no change falls between
the two.

Messages (JSON): ``{"type": "results", "results": [...]}`` and ``{"type": "hands",
"hands": [...]}`` (the trainee's last request for help per exercise) once, then
``{"type": "result", "result": {...}}`` and ``{"type": "help", "help": {...}}`` as they
change; a result is ``courseware.events.payload``, a request ``courseware.events.help_payload``.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from courseware import access, events, hands, progress
from labs.models import Lab

REFUSED = 4403


class ProgressConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        lab_id = int(self.scope["url_route"]["kwargs"]["lab"])
        if not await database_sync_to_async(_admits)(self.scope.get("user"), lab_id):
            await self.close(code=REFUSED)
            return
        self.group = events.lab_group(lab_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        results = await database_sync_to_async(progress.current_results)(lab_id)
        await self.send_json({"type": "results", "results": results})
        requests = await database_sync_to_async(hands.current_requests)(lab_id)
        await self.send_json({"type": "hands", "hands": requests})

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Browsers only listen here; anything they send is ignored."""

    async def task_result(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "result", "result": event["result"]})

    async def help_request(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "help", "help": event["help"]})


def _admits(user: Any, lab_id: int) -> bool:
    lab = Lab.objects.select_related("enrolment__cohort").filter(pk=lab_id).first()
    return user is not None and lab is not None and access.can_follow_lab(user, lab)
