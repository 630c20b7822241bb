"""The Deployment controller: a ReplicaSet per pod template, rolled out by the strategy.

The ReplicaSet of the current template is ``<name>-<pod-template-hash>`` (the hash is a label
of its pods and part of its selector), annotated with the revision (one more than the highest
so far; a template rolled back to gets a new revision and the old number in
``revision-history``), the desired and maximum replica counts, and the Deployment's own
annotations such as ``kubernetes.io/change-cause``. ``kubectl rollout history`` and
``rollout undo`` read exactly these. A RollingUpdate moves pods from the old ReplicaSets to the
new one within maxSurge and maxUnavailable (`simcluster.controllers.rollout`), a Recreate scales
the old ones to zero and waits for their pods to be gone first; a paused Deployment only scales.
Old ReplicaSets beyond ``revisionHistoryLimit`` are deleted once the rollout is complete.
``ScalingReplicaSet`` events say every step ("Scaled up replica set web-7c5ddbdf54 from 0 to
1"). The status (replicas, updated, ready, available, unavailable) and the Available and
Progressing conditions are the controller's, including ProgressDeadlineExceeded when a rollout
has not progressed for ``progressDeadlineSeconds`` of wall-clock time.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from datetime import UTC, datetime

from simcluster.controllers import rollout
from simcluster.controllers.clock import Clock
from simcluster.controllers.events import Recorder
from simcluster.controllers.workloads import (
    controlled_by,
    controller_uid,
    owner_reference,
    selected,
)
from simcluster.errors import ApiError
from simcluster.resources import Resource, known
from simcluster.store import Event, Store, timestamp

__all__ = ["Deployments"]

PODS = known("", "v1", "pods")
REPLICASETS = known("apps", "v1", "replicasets")
DEPLOYMENTS = known("apps", "v1", "deployments")
COMPONENT = "deployment-controller"
_PREFIX = "deployment.kubernetes.io/"
REVISION = _PREFIX + "revision"
HISTORY = _PREFIX + "revision-history"
DESIRED = _PREFIX + "desired-replicas"
MAXIMUM = _PREFIX + "max-replicas"
_NOT_COPIED = {REVISION, HISTORY, DESIRED, MAXIMUM,
               "kubectl.kubernetes.io/last-applied-configuration",
               "deprecated.deployment.rollback.to"}  # fmt: skip
Delete = Callable[[Resource, str, str, str], None]


def _revision(rs: dict) -> int:
    value = (rs["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(value) if value.isdigit() else 0


def _replicas(rs: dict) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def _status(rs: dict, field: str) -> int:
    return int((rs.get("status") or {}).get(field, 0) or 0)


class Deployments:
    def __init__(self, store: Store, clock: Clock, recorder: Recorder, delete: Delete) -> None:
        self.store = store
        self.clock = clock
        self.recorder = recorder
        self.delete = delete

    def on_event(self, event: Event) -> None:
        obj = event.object
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        if event.resource is DEPLOYMENTS:
            if event.type != "DELETED":
                self._queue(namespace, meta["name"])
        elif event.resource is REPLICASETS:
            owner = controller_uid(obj)
            for deployment in self.store.list(DEPLOYMENTS, namespace)[0]:
                if deployment["metadata"]["uid"] == owner or (
                    owner is None and selected(obj, (deployment.get("spec") or {}).get("selector"))
                ):
                    self._queue(namespace, deployment["metadata"]["name"])
        elif event.resource is PODS and event.type == "DELETED":
            # A Recreate rollout waits for the old pods to be gone.
            owner = controller_uid(obj)
            for rs in self.store.list(REPLICASETS, namespace)[0]:
                if rs["metadata"]["uid"] == owner:
                    parent = controller_uid(rs)
                    for deployment in self.store.list(DEPLOYMENTS, namespace)[0]:
                        if deployment["metadata"]["uid"] == parent:
                            self._queue(namespace, deployment["metadata"]["name"])

    def _queue(self, namespace: str, name: str) -> None:
        self.clock.soon(self.sync, namespace, name, key=("deployment", namespace, name))

    # -- the sets -------------------------------------------------------------------------

    def _sets(self, deployment: dict) -> list[dict]:
        """The Deployment's ReplicaSets, adopting matching orphans and releasing the ones
        that no longer match; oldest first."""
        namespace = deployment["metadata"]["namespace"]
        selector = (deployment.get("spec") or {}).get("selector")
        mine = []
        for rs in self.store.list(REPLICASETS, namespace)[0]:
            if controlled_by(rs, deployment):
                mine.append(rs)
            elif (
                controller_uid(rs) is None
                and selected(rs, selector)
                and not deployment["metadata"].get("deletionTimestamp")
            ):
                ref = owner_reference(deployment)

                def adopt(current: dict, ref: dict = ref) -> None:
                    current["metadata"].setdefault("ownerReferences", []).append(ref)

                mine.append(self.store.mutate(REPLICASETS, namespace, rs["metadata"]["name"],
                                              adopt))  # fmt: skip
        return sorted(mine, key=lambda r: (r["metadata"].get("creationTimestamp", ""),
                                           r["metadata"]["name"]))  # fmt: skip

    def _annotations(self, deployment: dict, revision: int | None, extra: dict) -> dict:
        copied = {
            key: value
            for key, value in (deployment["metadata"].get("annotations") or {}).items()
            if key not in _NOT_COPIED
        }
        if revision is not None:
            copied[REVISION] = str(revision)
        return {**copied, **extra}

    def _sizes(self, deployment: dict) -> dict[str, str]:
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        surge = 0
        if (spec.get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
            surge, _ = rollout.fenceposts(
                (spec.get("strategy") or {}).get("rollingUpdate") or {}, replicas
            )
        return {DESIRED: str(replicas), MAXIMUM: str(replicas + surge)}

    def _new_set(
        self, deployment: dict, sets: list[dict], create: bool, notes: list[dict]
    ) -> dict | None:
        """The ReplicaSet of the current template: found (its revision brought up to date)
        or, with ``create``, made."""
        spec = deployment.get("spec") or {}
        template = spec.get("template") or {}
        namespace = deployment["metadata"]["namespace"]
        found = next(
            (rs for rs in sets if rollout.equal_ignoring_hash((rs.get("spec") or {}).get(
                "template") or {}, template)), None
        )  # fmt: skip
        highest = max((_revision(rs) for rs in sets if rs is not found), default=0)
        if found is not None:
            revision = _revision(found)
            annotations = dict(found["metadata"].get("annotations") or {})
            wanted = self._annotations(deployment, None, self._sizes(deployment))
            if revision <= highest:
                history = [h for h in annotations.get(HISTORY, "").split(",") if h]
                if revision:
                    history.append(str(revision))
                wanted[HISTORY] = ",".join(history)
                revision = highest + 1
            wanted[REVISION] = str(revision)
            min_ready = spec.get("minReadySeconds")
            if {**annotations, **wanted} != annotations or (
                (found.get("spec") or {}).get("minReadySeconds") != min_ready
            ):

                def update(current: dict) -> None:
                    current["metadata"]["annotations"] = {
                        **(current["metadata"].get("annotations") or {}),
                        **wanted,
                    }
                    if min_ready is not None:
                        current["spec"]["minReadySeconds"] = min_ready

                found = self.store.mutate(REPLICASETS, namespace, found["metadata"]["name"],
                                          update)  # fmt: skip
            name = found["metadata"]["name"]
            known_progress = any(c.get("type") == "Progressing" for c in (
                deployment.get("status") or {}).get("conditions") or [])  # fmt: skip
            if not known_progress:
                notes.append({"type": "Progressing", "status": "True",
                              "reason": "FoundNewReplicaSet",
                              "message": f'Found new replica set "{name}"'})  # fmt: skip
            return found
        if not create:
            return None
        collisions = int((deployment.get("status") or {}).get("collisionCount") or 0)
        while True:
            hashed = rollout.template_hash(template, collisions)
            name = f"{deployment['metadata']['name']}-{hashed}"
            clash = self.store.get(REPLICASETS, namespace, name)
            if clash is None:
                break
            collisions += 1
        replicas = int(spec.get("replicas", 1))
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate":
            surge, _ = rollout.fenceposts((spec.get("strategy") or {}).get("rollingUpdate") or {},
                                          replicas)  # fmt: skip
            counts = [rollout.Counts(_replicas(rs), _status(rs, "availableReplicas"))
                      for rs in sets]  # fmt: skip
            size = rollout.new_replicas(replicas, surge, counts, rollout.Counts(0, 0))
        else:
            size = replicas
        new_template = copy.deepcopy(template)
        labels = new_template.setdefault("metadata", {}).setdefault("labels", {})
        labels[rollout.HASH_LABEL] = hashed
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[rollout.HASH_LABEL] = hashed
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {**((template.get("metadata") or {}).get("labels") or {}),
                           rollout.HASH_LABEL: hashed},
                "annotations": self._annotations(deployment, highest + 1, self._sizes(deployment)),
                "ownerReferences": [owner_reference(deployment)],
            },
            "spec": {"replicas": size, "selector": selector, "template": new_template,
                     **({"minReadySeconds": spec["minReadySeconds"]}
                        if spec.get("minReadySeconds") else {})},
        }  # fmt: skip
        created = self.store.create(REPLICASETS, rs)
        if size > 0:
            self._scaled(deployment, name, 0, size)
        notes.append({"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated",
                      "message": f'Created new replica set "{name}"'})  # fmt: skip
        if collisions:
            notes.append({"collisionCount": collisions})
        return created

    def _scaled(self, deployment: dict, name: str, before: int, after: int) -> None:
        way = "up" if after > before else "down"
        self.recorder.record(deployment, "Normal", "ScalingReplicaSet",
                             f"Scaled {way} replica set {name} from {before} to {after}",
                             COMPONENT)  # fmt: skip

    def _scale(self, deployment: dict, rs: dict, size: int) -> dict:
        before = _replicas(rs)
        sizes = self._sizes(deployment)
        annotations = rs["metadata"].get("annotations") or {}
        if before == size and all(annotations.get(k) == v for k, v in sizes.items()):
            return rs

        def resize(current: dict) -> None:
            current["spec"]["replicas"] = size
            current["metadata"]["annotations"] = {
                **(current["metadata"].get("annotations") or {}),
                **sizes,
            }

        scaled = self.store.mutate(REPLICASETS, rs["metadata"]["namespace"],
                                   rs["metadata"]["name"], resize)  # fmt: skip
        if before != size:
            self._scaled(deployment, rs["metadata"]["name"], before, size)
        return scaled

    # -- the sync -------------------------------------------------------------------------

    def sync(self, namespace: str, name: str) -> None:
        deployment = self.store.get(DEPLOYMENTS, namespace, name)
        if deployment is None:
            return
        spec = deployment.get("spec") or {}
        sets = self._sets(deployment)
        notes: list[dict] = []
        if deployment["metadata"].get("deletionTimestamp"):
            self._write_status(deployment, sets, None, notes)
            return
        if spec.get("paused") or self._scaling(deployment, sets):
            new = self._new_set(deployment, sets, False, notes)
            sets = self._proportional(deployment, sets, new)
            new = self._new_set(deployment, sets, False, notes) if new else None
            self._write_status(deployment, sets, new, notes)
            return
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            self._recreate(deployment, sets, notes)
        else:
            self._rolling(deployment, sets, notes)

    def _scaling(self, deployment: dict, sets: list[dict]) -> bool:
        """``isScalingEvent``: an active ReplicaSet was sized for other replicas."""
        replicas = str((deployment.get("spec") or {}).get("replicas", 1))
        for rs in sets:
            if _replicas(rs) > 0:
                desired = (rs["metadata"].get("annotations") or {}).get(DESIRED)
                if desired is not None and desired != replicas:
                    return True
        return False

    def _proportional(self, deployment: dict, sets: list[dict], new: dict | None) -> list[dict]:
        """Scale the active ReplicaSets to the Deployment's new size, in proportion."""
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        active_sets = [rs for rs in sets if _replicas(rs) > 0]
        if not active_sets:
            target = new or (sets[-1] if sets else None)
            if target is not None:
                self._scale(deployment, target, replicas)
            return self._sets(deployment)
        if len(active_sets) == 1:
            self._scale(deployment, active_sets[0], replicas)
            return self._sets(deployment)
        surge = int(self._sizes(deployment)[MAXIMUM]) - replicas
        allowed = replicas + surge
        current = sum(_replicas(rs) for rs in active_sets)
        delta = allowed - current
        if delta == 0:
            return sets
        order = sorted(active_sets, key=lambda r: (-_replicas(r), r["metadata"]["name"]))
        shares = {}
        given = 0
        for rs in order:
            share = int(_replicas(rs) * delta / current) if current else 0
            shares[rs["metadata"]["name"]] = share
            given += share
        leftover = delta - given
        if order:
            shares[order[0]["metadata"]["name"]] += leftover
        for rs in order:
            self._scale(deployment, rs, max(_replicas(rs) + shares[rs["metadata"]["name"]], 0))
        return self._sets(deployment)

    def _rolling(self, deployment: dict, sets: list[dict], notes: list[dict]) -> None:
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        surge, unavailable = rollout.fenceposts(
            (spec.get("strategy") or {}).get("rollingUpdate") or {}, replicas
        )
        new = self._new_set(deployment, sets, True, notes)
        sets = self._sets(deployment)
        new = next(rs for rs in sets if rs["metadata"]["uid"] == new["metadata"]["uid"])
        old = [rs for rs in sets if rs is not new]
        counts = [rollout.Counts(_replicas(rs), _status(rs, "availableReplicas")) for rs in sets]
        new_counts = rollout.Counts(_replicas(new), _status(new, "availableReplicas"))
        if _replicas(new) > replicas:
            self._scale(deployment, new, replicas)
            return self._finish(deployment, notes)
        size = rollout.new_replicas(replicas, surge, counts, new_counts)
        if size != _replicas(new):
            self._scale(deployment, new, size)
            return self._finish(deployment, notes)
        old_counts = [rollout.Counts(_replicas(rs), _status(rs, "availableReplicas")) for rs in old]
        sizes, removed = rollout.old_scale_down(replicas, unavailable, old_counts, new_counts)
        if removed:
            for rs, size in zip(old, sizes, strict=True):
                if size != _replicas(rs):
                    self._scale(deployment, rs, size)
            return self._finish(deployment, notes)
        return self._finish(deployment, notes, cleanup=True)

    def _recreate(self, deployment: dict, sets: list[dict], notes: list[dict]) -> None:
        new = self._new_set(deployment, sets, False, notes)
        old = [rs for rs in sets if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]]
        scaled = False
        for rs in old:
            if _replicas(rs) > 0:
                self._scale(deployment, rs, 0)
                scaled = True
        if scaled:
            return self._finish(deployment, notes)
        namespace = deployment["metadata"]["namespace"]
        old_uids = {rs["metadata"]["uid"] for rs in old}
        for pod in self.store.list(PODS, namespace)[0]:
            if controller_uid(pod) in old_uids and (pod.get("status") or {}).get("phase") not in (
                "Succeeded", "Failed",
            ):  # fmt: skip
                return self._finish(deployment, notes)  # old pods still running or terminating
        if new is None:
            new = self._new_set(deployment, self._sets(deployment), True, notes)
        replicas = int((deployment.get("spec") or {}).get("replicas", 1))
        if new is not None and _replicas(new) != replicas:
            self._scale(deployment, new, replicas)
        return self._finish(deployment, notes, cleanup=True)

    def _finish(self, deployment: dict, notes: list[dict], cleanup: bool = False) -> None:
        current = self.store.get(DEPLOYMENTS, deployment["metadata"]["namespace"],
                                 deployment["metadata"]["name"])  # fmt: skip
        if current is None:
            return
        sets = self._sets(current)
        template = (current.get("spec") or {}).get("template") or {}
        new = next((rs for rs in sets if rollout.equal_ignoring_hash(
            (rs.get("spec") or {}).get("template") or {}, template)), None)  # fmt: skip
        status = self._write_status(current, sets, new, notes)
        if cleanup and rollout.complete(
            int((current.get("spec") or {}).get("replicas", 1)),
            status,
            current["metadata"].get("generation", 1),
        ):
            self._cleanup(current, [rs for rs in sets if rs is not new])

    def _cleanup(self, deployment: dict, old: list[dict]) -> None:
        limit = (deployment.get("spec") or {}).get("revisionHistoryLimit", 10)
        if limit is None:
            return
        done = [rs for rs in old if _replicas(rs) == 0 and _status(rs, "replicas") == 0
                and not rs["metadata"].get("deletionTimestamp")]  # fmt: skip
        done.sort(key=lambda rs: (_revision(rs), rs["metadata"].get("creationTimestamp", "")))
        for rs in done[: max(len(done) - int(limit), 0)]:
            with contextlib.suppress(ApiError):
                self.delete(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"],
                            "Background")  # fmt: skip

    # -- status ---------------------------------------------------------------------------

    def _write_status(
        self, deployment: dict, sets: list[dict], new: dict | None, notes: list[dict]
    ) -> dict:
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        _, unavailable = rollout.fenceposts(
            (spec.get("strategy") or {}).get("rollingUpdate") or {}, replicas
        ) if (spec.get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate" else (
            0, 0)  # fmt: skip
        previous = deployment.get("status") or {}
        available = sum(_status(rs, "availableReplicas") for rs in sets)
        status: dict = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": sum(_status(rs, "replicas") for rs in sets),
            "updatedReplicas": _status(new, "replicas") if new else 0,
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in sets),
            "availableReplicas": available,
            "unavailableReplicas": max(sum(_replicas(rs) for rs in sets) - available, 0),
        }
        now = timestamp()
        conditions = list(previous.get("conditions") or [])
        for note in notes:
            if "collisionCount" in note:
                status["collisionCount"] = note["collisionCount"]
            else:
                conditions = rollout.set_condition(conditions, note, now)
        if previous.get("collisionCount") and "collisionCount" not in status:
            status["collisionCount"] = previous["collisionCount"]
        if available >= replicas - unavailable:
            conditions = rollout.set_condition(conditions, {
                "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability."}, now)  # fmt: skip
        else:
            conditions = rollout.set_condition(conditions, {
                "type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                "message": "Deployment does not have minimum availability."}, now)  # fmt: skip
        conditions = self._progress(deployment, conditions, previous, status, new, now)
        status["conditions"] = conditions
        for key in ("readyReplicas", "availableReplicas", "unavailableReplicas",
                    "updatedReplicas", "replicas"):  # fmt: skip
            if not status[key]:
                del status[key]  # omitted when zero, as the API's omitempty does
        revision = new["metadata"].get("annotations", {}).get(REVISION) if new else None

        def write(current: dict) -> None:
            current["status"] = status
            if revision and (current["metadata"].get("annotations") or {}).get(REVISION) != (
                revision
            ):
                current["metadata"].setdefault("annotations", {})[REVISION] = revision

        if status != previous or (revision and (deployment["metadata"].get("annotations") or {})
                                  .get(REVISION) != revision):  # fmt: skip
            with contextlib.suppress(ApiError):
                self.store.mutate(DEPLOYMENTS, deployment["metadata"]["namespace"],
                                  deployment["metadata"]["name"], write)  # fmt: skip
        return {**{"replicas": 0, "updatedReplicas": 0, "availableReplicas": 0}, **status}

    def _progress(
        self,
        deployment: dict,
        conditions: list[dict],
        previous: dict,
        status: dict,
        new: dict | None,
        now: str,
    ) -> list[dict]:
        spec = deployment.get("spec") or {}
        current = next((c for c in conditions if c.get("type") == "Progressing"), None)
        if spec.get("paused"):
            if not current or current.get("reason") != "DeploymentPaused":
                return rollout.set_condition(conditions, {
                    "type": "Progressing", "status": "Unknown", "reason": "DeploymentPaused",
                    "message": "Deployment is paused"}, now)  # fmt: skip
            return conditions
        if current and current.get("reason") == "DeploymentPaused":
            conditions = rollout.set_condition(conditions, {
                "type": "Progressing", "status": "Unknown", "reason": "DeploymentResumed",
                "message": "Deployment is resumed"}, now)  # fmt: skip
            current = conditions[-1]
        deadline = spec.get("progressDeadlineSeconds")
        if deadline is None:
            return conditions
        replicas = int(spec.get("replicas", 1))
        generation = deployment["metadata"].get("generation", 1)
        full = {"replicas": 0, "updatedReplicas": 0, "availableReplicas": 0, "readyReplicas": 0,
                **status}  # fmt: skip
        if (
            current
            and current.get("reason") == "NewReplicaSetAvailable"
            and (full["replicas"] == full["updatedReplicas"])
        ):
            return conditions
        name = new["metadata"]["name"] if new else ""
        if rollout.complete(replicas, full, generation):
            return rollout.set_condition(
                conditions,
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{name}" has successfully progressed.',
                },
                now,
            )
        if rollout.progressing(previous, full):
            message = (
                f'ReplicaSet "{name}" is progressing.'
                if new
                else (f'Deployment "{deployment["metadata"]["name"]}" is progressing.')
            )
            conditions = rollout.set_condition(conditions, {
                "type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                "message": message}, now, force=True)  # fmt: skip
            self._watch_deadline(deployment, int(deadline))
            return conditions
        if (
            current is not None
            and current.get("status") == "True"
            and current.get("reason")
            in ("ReplicaSetUpdated", "NewReplicaSetCreated", "FoundNewReplicaSet")
        ):
            updated = current.get("lastUpdateTime") or now
            try:
                since = datetime.fromisoformat(updated.replace("Z", "+00:00"))
            except ValueError:
                since = datetime.now(UTC)
            if (datetime.now(UTC) - since).total_seconds() >= int(deadline):
                return rollout.set_condition(
                    conditions,
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": f'ReplicaSet "{name}" has timed out progressing.',
                    },
                    now,
                )
            self._watch_deadline(deployment, int(deadline))
        return conditions

    def _watch_deadline(self, deployment: dict, seconds: int) -> None:
        meta = deployment["metadata"]
        self.clock.at_real(seconds + 1, self._queue, meta["namespace"], meta["name"])
