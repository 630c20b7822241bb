"""The ASGI application's wrapper that starts the in-process check watcher (development).

With ``CHECK_WATCHER_IN_PROCESS`` (on by default with ``DEBUG`` and no ``REDIS_URL``) the
first request or websocket a process serves starts ``courseware.watcher`` in a thread of
that process, and results are published on the loop that serves the websockets (the
in-memory channel layer works only there). Starting on first use rather than at import
keeps the autoreloader's parent process, tests that import the application, and management
commands from starting one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings

from courseware import events

Scope = dict[str, Any]


class StartsWatcher:
    def __init__(self, application: Any) -> None:
        self.application = application
        self._checked = False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if not self._checked:
            self._checked = True
            if settings.CHECK_WATCHER_IN_PROCESS:
                from courseware.watcher import start_in_process

                events.serve_on(asyncio.get_running_loop())
                start_in_process()
        return await self.application(scope, receive, send)
