"""The instructor's dashboard over a websocket: ``ws/cohorts/<cohort id>/dashboard/``.

Admits whom ``courseware.access.can_manage_cohort`` admits (the cohort's instructors and
admins) and refuses everyone else in ``connect`` with close code 4403, an unknown cohort
alike. It joins the cohort's group first, then sends a snapshot of the whole grid
(``courseware.dashboard.snapshot``: every trainee and result, the open hands), then each
change as ``courseware.events`` publishes it: nothing falls between the snapshot and the
first change, and a page that reconnects is brought back to the truth.

From the server: ``snapshot``; ``result`` (a result changed, or a hint or solution was
opened); ``lab`` (a lab's state or provisioning progress); ``help`` (a hand went up or was
handled); ``terminals`` (the answer to the page's question below, and one trainee's as
their terminal connects or goes away).

From the page: ``{"type": "terminals"}``, every 30 s: the terminals' activity lives in the
cache (written beside the keystrokes, never published), so the page asks for it;
``{"type": "snapshot"}`` asks for the whole state again. Anything else is ignored.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from courseware import access, dashboard, events
from courseware.models import Cohort

REFUSED = 4403


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None
    cohort: Cohort | None = None

    async def connect(self) -> None:
        cohort_id = int(self.scope["url_route"]["kwargs"]["cohort"])
        self.cohort = await database_sync_to_async(_admitted)(self.scope.get("user"), cohort_id)
        if self.cohort is None:
            await self.close(code=REFUSED)
            return
        self.group = events.cohort_group(cohort_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._snapshot()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        """A frame that is not JSON is ignored like an unknown message, not a crash."""
        try:
            return json.loads(text_data)
        except ValueError:
            return None

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if self.cohort is None:
            return
        if kind == "terminals":
            await self.send_json(await database_sync_to_async(dashboard.terminals)(self.cohort))
        elif kind == "snapshot":
            await self._snapshot()

    async def _snapshot(self) -> None:
        assert self.cohort is not None
        grid = await database_sync_to_async(dashboard.build)(self.cohort, whole=True)
        await self.send_json(dashboard.snapshot(grid))

    # -- what courseware.events publishes to the cohort's group ------------------------------

    async def task_result(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "result", "result": event["result"]})

    async def lab_state(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "lab", "enrolment": event["enrolment"], "lab": event["lab"]})

    async def help_request(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "help", "help": event["help"]})

    async def terminal_state(self, event: dict[str, Any]) -> None:
        """One trainee's terminals, in the shape of the answer to the page's question."""
        await self.send_json(
            {"type": "terminals", "now": event["now"], "terminals": event["terminals"]}
        )


def _admitted(user: Any, cohort_id: int) -> Cohort | None:
    cohort = Cohort.objects.select_related("course").filter(pk=cohort_id).first()
    if user is None or cohort is None or not access.can_manage_cohort(user, cohort):
        return None
    return cohort
