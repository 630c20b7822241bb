"""What a cluster's control plane and its node do by themselves, by documented rules.

Controllers: namespaces (a ``default`` ServiceAccount and the ``kube-root-ca.crt`` ConfigMap in
each; deletion: Terminating, then emptied and gone), the scheduler, the node's kubelet,
ReplicaSets, Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, Endpoints and
EndpointSlices, HorizontalPodAutoscalers (without metrics), ResourceQuota status, volume
provisioning and the garbage collector; each module says what it does. They react to the
store's changes on the `Clock`: at once and in order, with the node's work paced.

``pace`` None means a cluster without a kubelet: no pod is scheduled or run, and a test sets
pod statuses by hand; the controllers still work.
"""

from __future__ import annotations

from simcluster import deletion
from simcluster.containers.node import Node
from simcluster.controllers.autoscalers import Autoscalers
from simcluster.controllers.clock import Clock
from simcluster.controllers.cronjobs import CronJobs
from simcluster.controllers.daemonsets import DaemonSets
from simcluster.controllers.deployments import Deployments
from simcluster.controllers.endpoints import EndpointsController
from simcluster.controllers.events import Recorder
from simcluster.controllers.garbage import GarbageCollector
from simcluster.controllers.jobs import Jobs
from simcluster.controllers.kubelet import Kubelet
from simcluster.controllers.quotas import Quotas
from simcluster.controllers.replicasets import ReplicaSets
from simcluster.controllers.scheduler import Scheduler
from simcluster.controllers.seed import CA, NODE_IP, NODE_NAME, api_server_objects, node
from simcluster.controllers.statefulsets import StatefulSets
from simcluster.controllers.volumes import Volumes, storage_class
from simcluster.controllers.workloads import Creator
from simcluster.plugins import SystemAdmission
from simcluster.resources import Resource, known, namespaced_resources
from simcluster.store import Event, Store, timestamp

__all__ = ["NODE_NAME", "Controllers"]

NAMESPACES = known("", "v1", "namespaces")
PODS = known("", "v1", "pods")
NODES = known("", "v1", "nodes")
CONFIGMAPS = known("", "v1", "configmaps")
SERVICE_ACCOUNTS = known("", "v1", "serviceaccounts")
CLASSES = known("storage.k8s.io", "v1", "storageclasses")


class Controllers:
    """Every controller of the simulated cluster, fed by ``store``'s changes."""

    def __init__(
        self, store: Store, pace: float | None, node_capacity: dict[str, str] | None = None
    ) -> None:
        self.store = store
        self.node_capacity = node_capacity
        self.clock = Clock(store.lock, pace)
        self.recorder = Recorder(store)
        self.node = Node(store, NODE_NAME, NODE_IP)
        self.namespace_deletion_delay = 0.0
        # What every namespace's kube-root-ca.crt holds: the cluster's CA certificate.
        self.root_ca = CA
        self.admission = SystemAdmission(store)
        creator = Creator(store, self.recorder, self.admission)
        clock, recorder, delete = self.clock, self.recorder, self.delete
        self.scheduler = Scheduler(store, clock, recorder, NODE_NAME)
        self.kubelet = Kubelet(store, clock, recorder, self.node)
        self.garbage = GarbageCollector(store, clock, delete)
        self._controllers = [
            self.garbage,
            ReplicaSets(store, clock, recorder, creator, delete),
            Deployments(store, clock, recorder, delete),
            StatefulSets(store, clock, recorder, creator, delete),
            DaemonSets(store, clock, recorder, creator, delete),
            Jobs(store, clock, recorder, creator, delete),
            CronJobs(store, clock, recorder, delete),
            EndpointsController(store, clock),
            Autoscalers(store, clock, recorder),
            Quotas(store, clock),
            Volumes(store, clock, recorder),
        ]
        store.hooks.append(self.on_event)

    @property
    def pace(self) -> float | None:
        return self.clock.pace

    @pace.setter
    def pace(self, seconds: float | None) -> None:
        was = self.clock.pace
        self.clock.pace = seconds
        if was is None and seconds is not None:
            # The node comes up: the scheduler and the kubelet take every pod as it is.
            self.clock.soon(self.scheduler.retry)
            for pod in self.store.list(PODS)[0]:
                self.kubelet.on_event(Event(0, "MODIFIED", PODS, pod))

    def seed(self) -> None:
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.create(NAMESPACES, {"metadata": {"name": name}})
        self.store.create(NODES, node(self.node_capacity), keep_status=True)
        for resource, obj in api_server_objects():
            self.store.create(resource, obj)
        self.store.create(CLASSES, storage_class())

    def delete(self, resource: Resource, namespace: str, name: str, policy: str) -> None:
        """Delete as the API server does, for a controller (no admission)."""
        options = {"propagationPolicy": policy}
        deletion.delete(self.store, self, resource, namespace or None, name, options)

    def on_event(self, event: Event) -> None:
        if event.type == "ADDED" and event.resource is NAMESPACES:
            self._furnish(event.object["metadata"]["name"])
        for controller in self._controllers:
            controller.on_event(event)
        if self.clock.pace is not None:
            self.scheduler.on_event(event)
            self.kubelet.on_event(event)

    def _furnish(self, namespace: str) -> None:
        account = {"metadata": {"name": "default", "namespace": namespace}}
        self.store.create(SERVICE_ACCOUNTS, account)
        ca = {
            "metadata": {"name": "kube-root-ca.crt", "namespace": namespace},
            "data": {"ca.crt": self.root_ca},
        }
        self.store.create(CONFIGMAPS, ca)

    def delete_namespace(self, name: str) -> dict:
        """Mark the namespace Terminating now and empty it after ``namespace_deletion_delay``
        seconds (wall-clock)."""

        def terminate(namespace: dict) -> None:
            namespace["metadata"].setdefault("deletionTimestamp", timestamp())
            namespace["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            namespace["status"] = {"phase": "Terminating"}

        with self.store.lock:
            terminating = self.store.mutate(NAMESPACES, "", name, terminate)
            uid = terminating["metadata"]["uid"]
        self.clock.at_real(self.namespace_deletion_delay, self._finish_namespace, name, uid)
        return terminating

    def _finish_namespace(self, name: str, uid: str) -> None:
        with self.store.lock:
            namespace = self.store.get(NAMESPACES, "", name)
            if namespace is None or namespace["metadata"]["uid"] != uid:
                return
            for resource in namespaced_resources():
                items, _ = self.store.list(resource, name)
                for obj in items:
                    if self.store.get(resource, name, obj["metadata"]["name"]) is not None:
                        self.store.delete(resource, name, obj["metadata"]["name"])
            self.store.delete(NAMESPACES, "", name)
