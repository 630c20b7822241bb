"""The resource quota controller: each ResourceQuota's ``status.hard`` and ``status.used``,
kept up to date as the namespace's objects change (``kubectl describe quota`` reads them)."""

from __future__ import annotations

import contextlib

from simcluster.controllers.clock import Clock
from simcluster.errors import ApiError
from simcluster.quota import QUOTAS, quota_status
from simcluster.store import Event, Store

__all__ = ["Quotas"]


class Quotas:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def on_event(self, event: Event) -> None:
        namespace = event.object["metadata"].get("namespace")
        if not namespace:
            return
        if (
            event.resource is QUOTAS
            and event.previous is not None
            and (event.previous.get("spec") == event.object.get("spec"))
        ):
            return  # its own status was written
        if event.resource.key == ("", "events"):
            return
        if not self.store.list(QUOTAS, namespace)[0]:
            return
        self.clock.soon(self.sync, namespace, key=("quota", namespace))

    def sync(self, namespace: str) -> None:
        for quota in self.store.list(QUOTAS, namespace)[0]:
            status = quota_status(self.store, quota)
            if status == quota.get("status"):
                continue

            def write(obj: dict, status: dict = status) -> None:
                obj["status"] = status

            with contextlib.suppress(ApiError):
                self.store.mutate(QUOTAS, namespace, quota["metadata"]["name"], write)
