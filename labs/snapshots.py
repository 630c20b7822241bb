"""A lab's objects fetched through the API, for the check evaluator (``labs.checks``).

One list request per kind in the lab's namespace. A kind that cannot be read (forbidden, not
served, the cluster unreachable) is recorded with the API's message rather than raised, so
the checks that need it end in the "error" state and the others are still judged.
"""

from __future__ import annotations

from collections.abc import Iterable

from labs.checks import KINDS, Snapshot
from labs.kube import ClusterError, Kube

__all__ = ["fetch"]


def fetch(kube: Kube, namespace: str, kinds: Iterable[str]) -> Snapshot:
    objects, errors = {}, {}
    for kind in sorted(set(kinds)):
        try:
            objects[kind], _ = kube.list_objects(KINDS[kind].api_version, kind, namespace)
        except ClusterError as exc:
            errors[kind] = exc.message
    return Snapshot(objects, errors)
