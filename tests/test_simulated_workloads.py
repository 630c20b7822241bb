"""What the simulated cluster does by itself, seen through the official Python client: its
controllers, its kubelet, garbage collection, graceful deletion, quota and Pod Security.

One cluster at pace 0 serves the module (every step at once, in order); the tests of timing
start clusters of their own at a small pace.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client
from kubernetes.client import ApiException
from kubernetes.stream import stream

from simcluster import KubeStandIn
from simcluster.resources import known
from tests.factories import wait_for

MERGE = "application/merge-patch+json"


@dataclass(frozen=True)
class Clients:
    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    batch: client.BatchV1Api


@pytest.fixture(scope="module")
def at_once() -> Iterator[KubeStandIn]:
    """A simulated cluster at pace 0, for the module."""
    with KubeStandIn(pace=0).start() as k:
        yield k


@pytest.fixture(scope="module")
def to(at_once: KubeStandIn) -> Clients:
    """The admin's clients of ``at_once``."""
    api = at_once.api_client()
    return Clients(api, client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api))


@pytest.fixture
def space(to: Clients) -> str:
    """A fresh namespace for the test."""
    name = f"w-{uuid.uuid4().hex[:10]}"
    to.core.create_namespace({"metadata": {"name": name}})
    return name


def container(name: str = "web", image: str = "nginx:1.27", **extra: object) -> dict:
    return {"name": name, "image": image, **extra}


def deployment(name: str, replicas: int = 3, image: str = "nginx:1.27") -> dict:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [container(image=image)]}},
        },
    }  # fmt: skip


def pods_of(core: client.CoreV1Api, ns: str, selector: str = "") -> list:
    return core.list_namespaced_pod(ns, label_selector=selector).items


def reasons(core: client.CoreV1Api, ns: str, name: str) -> list[str]:
    events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items
    return [event.reason for event in events]


def condition(obj: object, kind: str) -> object:
    return next(c for c in obj.status.conditions if c.type == kind)


# -- Deployments and ReplicaSets -------------------------------------------------------------


def test_it_runs_a_deployment_through_a_replicaset_to_ready_pods(to: Clients, space: str) -> None:
    core = to.core
    apps = to.apps
    ns = space
    apps.create_namespaced_deployment(ns, deployment("web"))

    shown = apps.read_namespaced_deployment("web", ns)
    (rs,) = apps.list_namespaced_replica_set(ns).items
    pods = pods_of(core, ns, "app=web")
    hashed = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{hashed}"
    assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert rs.metadata.owner_references[0].uid == shown.metadata.uid
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": hashed}
    assert len(pods) == 3
    assert all(p.status.phase == "Running" and p.metadata.name.startswith(rs.metadata.name)
               for p in pods)  # fmt: skip
    assert all(p.metadata.owner_references[0].name == rs.metadata.name for p in pods)
    status = shown.status
    assert (status.replicas, status.updated_replicas, status.ready_replicas,
            status.available_replicas) == (3, 3, 3, 3)  # fmt: skip
    assert condition(shown, "Available").reason == "MinimumReplicasAvailable"
    assert condition(shown, "Progressing").reason == "NewReplicaSetAvailable"
    assert shown.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert reasons(core, ns, "web") == ["ScalingReplicaSet"]
    assert reasons(core, ns, rs.metadata.name) == ["SuccessfulCreate"] * 3


def test_it_keeps_the_old_pods_while_a_broken_image_fails_to_pull(to: Clients, space: str) -> None:
    core = to.core
    apps = to.apps
    ns = space
    apps.create_namespaced_deployment(ns, deployment("web"))
    broken = {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:0.0.0-does-not-exist"}]}}}}  # fmt: skip
    apps.patch_namespaced_deployment("web", ns, broken)

    shown = apps.read_namespaced_deployment("web", ns)
    sets = {rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs
            for rs in apps.list_namespaced_replica_set(ns).items}  # fmt: skip
    pods = pods_of(core, ns, "app=web")
    waiting = [p for p in pods if p.status.phase == "Pending"]
    assert (sets["1"].spec.replicas, sets["2"].spec.replicas) == (3, 1)  # maxSurge 1, none gone
    assert len(pods) == 4
    assert len(waiting) == 1
    assert waiting[0].status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    assert (shown.status.updated_replicas, shown.status.available_replicas) == (1, 3)
    assert condition(shown, "Progressing").reason == "ReplicaSetUpdated"
    assert reasons(core, ns, waiting[0].metadata.name) == [
        "Scheduled", "Pulling", "Failed", "Failed", "BackOff", "Failed",
    ]  # fmt: skip


def test_it_adopts_matching_orphans_and_releases_relabelled_pods(to: Clients, space: str) -> None:
    core = to.core
    apps = to.apps
    ns = space
    core.create_namespaced_pod(ns, {"metadata": {"name": "stray", "labels": {"app": "rs"}},
                                    "spec": {"containers": [container()]}})  # fmt: skip
    apps.create_namespaced_replica_set(ns, {
        "metadata": {"name": "rs"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "rs"}},
                 "template": {"metadata": {"labels": {"app": "rs"}},
                              "spec": {"containers": [container()]}}},
    })  # fmt: skip

    adopted = core.read_namespaced_pod("stray", ns)
    assert adopted.metadata.owner_references[0].name == "rs"
    assert len(pods_of(core, ns, "app=rs")) == 2
    core.patch_namespaced_pod("stray", ns, {"metadata": {"labels": {"app": "debug"}}})

    released = core.read_namespaced_pod("stray", ns)
    assert released.metadata.owner_references is None
    assert len(pods_of(core, ns, "app=rs")) == 2  # a replacement
    assert apps.read_namespaced_replica_set("rs", ns).status.ready_replicas == 2


# -- deletion -----------------------------------------------------------------------------------


def test_it_collects_garbage_in_the_background_and_orphans_on_request(
    to: Clients, space: str
) -> None:
    core = to.core
    apps = to.apps
    ns = space
    apps.create_namespaced_deployment(ns, deployment("gone", replicas=2))
    apps.create_namespaced_deployment(ns, deployment("kept", replicas=2))

    apps.delete_namespaced_deployment("gone", ns, propagation_policy="Background")
    apps.delete_namespaced_deployment("kept", ns, propagation_policy="Orphan")

    assert pods_of(core, ns, "app=gone") == []
    (rs,) = apps.list_namespaced_replica_set(ns).items
    assert rs.metadata.name.startswith("kept-")
    assert rs.metadata.owner_references is None
    assert len(pods_of(core, ns, "app=kept")) == 2


def test_it_deletes_an_owner_in_the_foreground_after_its_dependents() -> None:
    with KubeStandIn(pace=0.1).start() as server:
        apps = client.AppsV1Api(server.api_client())
        core = client.CoreV1Api(server.api_client())
        # busybox's sleep ignores SIGTERM: its pods take their grace period to go.
        spec = deployment("slow", replicas=1, image="busybox:1.37")
        pod_spec = spec["spec"]["template"]["spec"]
        pod_spec["containers"][0]["command"] = ["sleep", "3600"]
        pod_spec["terminationGracePeriodSeconds"] = 5
        apps.create_namespaced_deployment("default", spec)
        wait_for(lambda: apps.read_namespaced_deployment("slow", "default").status.ready_replicas,
                 "the deployment ready")  # fmt: skip

        apps.delete_namespaced_deployment("slow", "default", propagation_policy="Foreground")

        held = apps.read_namespaced_deployment("slow", "default")
        assert held.metadata.deletion_timestamp is not None
        assert held.metadata.finalizers == ["foregroundDeletion"]
        (pod,) = pods_of(core, "default", "app=slow")
        assert pod.metadata.deletion_timestamp is not None  # Terminating
        wait_for(lambda: not apps.list_namespaced_deployment("default").items, "it gone")
        assert pods_of(core, "default", "app=slow") == []


def test_it_holds_an_object_until_its_finalizers_are_removed(to: Clients, space: str) -> None:
    core = to.core
    ns = space
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    )

    answer = core.delete_namespaced_config_map("held", ns)
    held = core.read_namespaced_config_map("held", ns)
    core.patch_namespaced_config_map("held", ns, {"metadata": {"finalizers": None}})

    assert answer["metadata"]["deletionTimestamp"]
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("held", ns)
    assert gone.value.status == 404


def test_it_deletes_pods_gracefully_at_its_pace() -> None:
    with KubeStandIn(pace=0.2).start() as server:
        core = client.CoreV1Api(server.api_client())
        sleeper = {
            "metadata": {"name": "sleeper"},
            "spec": {
                "terminationGracePeriodSeconds": 3,
                "containers": [container("c", "busybox:1.37", command=["sleep", "3600"])],
            },
        }
        core.create_namespaced_pod("default", sleeper)
        core.create_namespaced_pod(
            "default", {"metadata": {"name": "web"}, "spec": {"containers": [container()]}}
        )
        started = time.monotonic()
        wait_for(lambda: all(p.status.phase == "Running" for p in pods_of(core, "default")),
                 "both running")  # fmt: skip
        assert time.monotonic() - started > 0.1  # a pull and a start, at pace 0.2

        core.delete_namespaced_pod("web", "default")
        core.delete_namespaced_pod("sleeper", "default")
        terminating = core.read_namespaced_pod("sleeper", "default")
        deleted = time.monotonic()
        wait_for(lambda: len(pods_of(core, "default")) == 1, "nginx gone at once")
        nginx_gone = time.monotonic() - deleted
        wait_for(lambda: not pods_of(core, "default"), "the sleeper gone")
        sleeper_gone = time.monotonic() - deleted
        killed = reasons(core, "default", "sleeper")

    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 3
    assert nginx_gone < 0.5  # nginx stops on SIGTERM
    assert 0.5 < sleeper_gone < 2.0  # sleep ignores it: 3 s grace at pace 0.2
    assert "Killing" in killed


# -- the kubelet ---------------------------------------------------------------------------------


def test_it_restarts_a_crashing_container_with_a_back_off(to: Clients, space: str) -> None:
    core = to.core
    ns = space
    crash = {
        "metadata": {"name": "crash"},
        "spec": {
            "containers": [
                container("c", "busybox:1.37", command=["sh", "-c", "echo dying; exit 3"])
            ]
        },
    }
    core.create_namespaced_pod(ns, crash)

    status = core.read_namespaced_pod("crash", ns).status.container_statuses[0]
    assert status.restart_count == 1  # the first restart comes at once, the next after 10 s
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.state.waiting.message.startswith("back-off 10s restarting failed container=c")
    assert status.last_state.terminated.exit_code == 3
    assert status.last_state.terminated.reason == "Error"
    assert core.read_namespaced_pod_log("crash", ns, previous=True) == "dying\n"
    assert "BackOff" in reasons(core, ns, "crash")


def test_it_completes_a_pod_that_ends_under_restart_policy_never(to: Clients, space: str) -> None:
    core = to.core
    ns = space
    for name, script in (("ok", "echo done"), ("failing", "exit 2")):
        core.create_namespaced_pod(
            ns,
            {
                "metadata": {"name": name},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container("c", "busybox:1.37", command=["sh", "-c", script])],
                },
            },
        )

    ok, failing = (core.read_namespaced_pod(n, ns) for n in ("ok", "failing"))
    assert ok.status.phase == "Succeeded"
    assert ok.status.container_statuses[0].state.terminated.reason == "Completed"
    assert failing.status.phase == "Failed"
    assert failing.status.container_statuses[0].state.terminated.exit_code == 2
    assert core.read_namespaced_pod_log("ok", ns) == "done\n"


def test_it_waits_for_a_missing_configmap_then_starts_the_container(
    to: Clients, space: str
) -> None:
    core = to.core
    ns = space
    env = [{"name": "COLOUR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "c"}}}]
    core.create_namespaced_pod(ns, {"metadata": {"name": "needs"},
                                    "spec": {"containers": [container(env=env)]}})  # fmt: skip
    mounted = {
        "volumes": [{"name": "v", "configMap": {"name": "files"}}],
        "containers": [container(volumeMounts=[{"name": "v", "mountPath": "/cfg"}])],
    }
    core.create_namespaced_pod(ns, {"metadata": {"name": "mounts"}, "spec": mounted})

    waiting = core.read_namespaced_pod("needs", ns).status.container_statuses[0].state.waiting
    creating = core.read_namespaced_pod("mounts", ns)
    assert (waiting.reason, waiting.message) == ("CreateContainerConfigError",
                                                 'configmap "cfg" not found')  # fmt: skip
    assert creating.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    assert "FailedMount" in reasons(core, ns, "mounts")
    core.create_namespaced_config_map(ns, {"metadata": {"name": "cfg"}, "data": {"c": "blue"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "files"}, "data": {"f": "1"}})

    assert core.read_namespaced_pod("needs", ns).status.phase == "Running"
    assert core.read_namespaced_pod("mounts", ns).status.phase == "Running"


def test_it_runs_init_containers_first_and_follows_readiness_probes(
    to: Clients, space: str
) -> None:
    core = to.core
    ns = space
    probe = {"httpGet": {"path": "/", "port": 80}}
    wrong = {"httpGet": {"path": "/", "port": 8080}}
    core.create_namespaced_pod(ns, {"metadata": {"name": "ready", "labels": {"app": "p"}}, "spec": {
        "initContainers": [container("init", "busybox:1.37", command=["sh", "-c", "echo init"])],
        "containers": [container(readinessProbe=probe)]}})  # fmt: skip
    core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "unready", "labels": {"app": "p"}},
            "spec": {"containers": [container(readinessProbe=wrong)]},
        },
    )
    core.create_namespaced_service(ns, {"metadata": {"name": "p"}, "spec": {
        "selector": {"app": "p"}, "ports": [{"port": 80}]}})  # fmt: skip

    ready, unready = (core.read_namespaced_pod(n, ns) for n in ("ready", "unready"))
    endpoints = core.read_namespaced_endpoints("p", ns)
    assert ready.status.init_container_statuses[0].state.terminated.reason == "Completed"
    assert ready.status.container_statuses[0].ready is True
    assert unready.status.container_statuses[0].ready is False
    assert condition(unready, "Ready").status == "False"
    assert [a.ip for a in endpoints.subsets[0].addresses] == [ready.status.pod_ip]
    assert [a.ip for a in endpoints.subsets[0].not_ready_addresses] == [unready.status.pod_ip]
    unhealthy = [
        e.message
        for e in core.list_namespaced_event(ns, field_selector="involvedObject.name=unready").items
        if e.reason == "Unhealthy"
    ]
    assert unhealthy[0] == (
        f'Readiness probe failed: Get "http://{unready.status.pod_ip}:8080/": dial tcp '
        f"{unready.status.pod_ip}:8080: connect: connection refused"
    )


def test_it_schedules_only_what_fits_the_nodes_capacity_which_may_be_set() -> None:
    big = {"metadata": {"name": "big"},
           "spec": {"containers": [container(resources={"requests": {"cpu": "10"}})]}}  # fmt: skip
    with (
        KubeStandIn(pace=0).start() as default,
        KubeStandIn(pace=0, node_capacity={"cpu": "64", "memory": "256Gi"}).start() as bigger,
    ):
        small = client.CoreV1Api(default.api_client())
        large = client.CoreV1Api(bigger.api_client())
        small.create_namespaced_pod("default", big)
        large.create_namespaced_pod("default", big)

        waiting = condition(small.read_namespaced_pod("big", "default"), "PodScheduled")
        placed = large.read_namespaced_pod("big", "default")
        node = large.read_node("standin-node").status

    assert (waiting.status, waiting.reason) == ("False", "Unschedulable")
    assert "1 Insufficient cpu" in waiting.message
    assert placed.spec.node_name == "standin-node"
    assert (node.allocatable["cpu"], node.allocatable["memory"], node.allocatable["pods"]) == (
        "64",
        "256Gi",
        "110",
    )


def test_it_keeps_pods_off_a_cordoned_node_until_it_is_uncordoned(to: Clients, space: str) -> None:
    core = to.core
    ns = space
    core.patch_node("standin-node", {"spec": {"unschedulable": True}})
    try:
        core.create_namespaced_pod(ns, {"metadata": {"name": "waits"},
                                        "spec": {"containers": [container()]}})  # fmt: skip
        pending = core.read_namespaced_pod("waits", ns)
    finally:
        core.patch_node("standin-node", {"spec": {"unschedulable": None}})

    scheduled = condition(pending, "PodScheduled")
    assert pending.spec.node_name is None
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
    assert scheduled.message == (
        "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling."
    )
    assert core.read_namespaced_pod("waits", ns).status.phase == "Running"


# -- jobs ---------------------------------------------------------------------------------


def job(name: str, script: str, **spec: object) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container("c", "busybox:1.37", command=["sh", "-c", script])],
                }
            },
        },
    }


def test_it_runs_a_job_to_its_completions(to: Clients, space: str) -> None:
    core = to.core
    batch = to.batch
    ns = space
    batch.create_namespaced_job(ns, job("twice", "echo done", completions=2, parallelism=1))

    done = batch.read_namespaced_job("twice", ns)
    uid = done.metadata.uid
    assert done.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert done.status.succeeded == 2
    assert [c.type for c in done.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    assert done.status.completion_time is not None
    assert reasons(core, ns, "twice") == ["SuccessfulCreate", "SuccessfulCreate", "Completed"]
    assert len(pods_of(core, ns, "batch.kubernetes.io/job-name=twice")) == 2


def test_it_fails_a_job_past_its_back_off_limit(to: Clients, space: str) -> None:
    batch = to.batch
    ns = space
    batch.create_namespaced_job(ns, job("fails", "exit 1", backoffLimit=1))

    wait_for(lambda: (batch.read_namespaced_job("fails", ns).status.conditions or []) != [],
             "the job to end", timeout=10)  # fmt: skip

    failed = batch.read_namespaced_job("fails", ns)
    assert failed.status.failed == 2
    assert [(c.type, c.reason) for c in failed.status.conditions] == [
        ("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded"),
    ]  # fmt: skip


def test_it_creates_a_job_when_a_cronjob_is_due(
    to: Clients, at_once: KubeStandIn, space: str
) -> None:
    batch = to.batch
    ns = space
    server = at_once
    template = job("x", "date")["spec"]
    batch.create_namespaced_cron_job(ns, {"metadata": {"name": "tick"}, "spec": {
        "schedule": "*/1 * * * *", "jobTemplate": {"spec": template}}})  # fmt: skip
    assert batch.list_namespaced_job(ns).items == []

    # Three minutes pass: the CronJob was created that long ago.
    def earlier(obj: dict) -> None:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 180))
        obj["metadata"]["creationTimestamp"] = when

    server.store.mutate(known("batch", "v1", "cronjobs"), ns, "tick", earlier)

    (created,) = batch.list_namespaced_job(ns).items
    minute = int(time.time()) // 60
    assert created.metadata.name == f"tick-{minute}"
    assert created.metadata.owner_references[0].name == "tick"
    cron = batch.read_namespaced_cron_job("tick", ns)
    assert cron.status.last_schedule_time is not None


# -- StatefulSets, DaemonSets, autoscalers ---------------------------------------------------


def test_it_names_statefulset_pods_in_order_with_their_own_claims(to: Clients, space: str) -> None:
    core = to.core
    apps = to.apps
    ns = space
    core.create_namespaced_service(
        ns,
        {
            "metadata": {"name": "db"},
            "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 80}]},
        },
    )
    apps.create_namespaced_stateful_set(ns, {"metadata": {"name": "db"}, "spec": {
        "serviceName": "db", "replicas": 3, "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [container(
            volumeMounts=[{"name": "data", "mountPath": "/usr/share/nginx/html"}])]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
    }})  # fmt: skip

    pods = {p.metadata.name: p for p in pods_of(core, ns, "app=db")}
    claims = core.list_namespaced_persistent_volume_claim(ns).items
    assert sorted(pods) == ["db-0", "db-1", "db-2"]
    assert pods["db-1"].spec.hostname == "db-1"
    assert pods["db-1"].spec.subdomain == "db"
    assert sorted(c.metadata.name for c in claims) == ["data-db-0", "data-db-1", "data-db-2"]
    assert {c.status.phase for c in claims} == {"Bound"}
    assert [e.message for e in core.list_namespaced_event(
        ns, field_selector="involvedObject.name=db").items
        if e.reason == "SuccessfulCreate"][:2] == [
        "create Claim data-db-0 Pod db-0 in StatefulSet db success",
        "create Pod db-0 in StatefulSet db successful"]  # fmt: skip
    assert apps.read_namespaced_stateful_set("db", ns).status.ready_replicas == 3


def test_it_puts_one_daemonset_pod_on_the_node(to: Clients, space: str) -> None:
    apps = to.apps
    ns = space
    apps.create_namespaced_daemon_set(ns, {"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}},
                     "spec": {"containers": [container()]}}}})  # fmt: skip

    status = apps.read_namespaced_daemon_set("agent", ns).status
    assert (status.desired_number_scheduled, status.current_number_scheduled,
            status.number_ready) == (1, 1, 1)  # fmt: skip


def test_it_keeps_an_autoscalers_target_within_its_bounds_without_metrics(
    to: Clients, space: str
) -> None:
    api = to.api
    apps = to.apps
    ns = space
    apps.create_namespaced_deployment(ns, deployment("web", replicas=1))
    client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {
                "minReplicas": 2,
                "maxReplicas": 4,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            },
        },
    )

    hpa = client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler("web", ns)
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 2
    assert hpa.status.desired_replicas == 2
    active = condition(hpa, "ScalingActive")
    assert (active.status, active.reason) == ("False", "FailedGetResourceMetric")
    assert active.message.endswith("no metrics source in the simulated cluster")


# -- quota and Pod Security on what controllers create ------------------------------------------


def test_it_refuses_a_replicasets_pods_beyond_the_quota_as_failed_create(
    to: Clients, space: str
) -> None:
    core = to.core
    apps = to.apps
    ns = space
    core.create_namespaced_resource_quota(ns, {"metadata": {"name": "lab"},
                                               "spec": {"hard": {"pods": "2"}}})  # fmt: skip
    apps.create_namespaced_deployment(ns, deployment("web", replicas=3))

    (rs,) = apps.list_namespaced_replica_set(ns).items
    failed = [e.message for e in core.list_namespaced_event(
        ns, field_selector=f"involvedObject.name={rs.metadata.name}").items
        if e.reason == "FailedCreate"]  # fmt: skip
    quota = core.read_namespaced_resource_quota("lab", ns)
    assert len(pods_of(core, ns)) == 2
    assert failed[0].startswith(f'Error creating: pods "{rs.metadata.name}-')
    assert failed[0].endswith(
        "is forbidden: exceeded quota: lab, requested: pods=1, used: pods=2, limited: pods=2"
    )
    assert quota.status.used == {"pods": "2"}
    assert condition(rs, "ReplicaFailure").reason == "FailedCreate"


def test_it_enforces_pod_security_from_the_namespace_labels(to: Clients, space: str) -> None:
    core = to.core
    apps = to.apps
    ns = space
    core.patch_namespace(ns, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})  # fmt: skip
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(
            ns,
            {"metadata": {"name": "root"}, "spec": {"containers": [container("nginx", "nginx")]}},
        )
    _, _, headers = apps.create_namespaced_deployment_with_http_info(ns, deployment("web"))

    body = json.loads(refused.value.body)
    assert refused.value.status == 403
    assert body["message"].startswith(
        'pods "root" is forbidden: violates PodSecurity "restricted:latest": '
        "allowPrivilegeEscalation != false"
    )
    assert headers["Warning"].startswith('299 - "would violate PodSecurity \\"restricted:latest')
    assert pods_of(core, ns) == []


# -- inside containers ------------------------------------------------------------------------


def test_it_answers_exec_with_a_shell_that_knows_the_pod(to: Clients, space: str) -> None:
    core = to.core
    ns = space
    core.create_namespaced_config_map(ns, {"metadata": {"name": "cfg"},
                                           "data": {"colour": "blue"}})  # fmt: skip
    core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {
                "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                "containers": [
                    container(
                        env=[{"name": "MODE", "value": "test"}],
                        volumeMounts=[{"name": "cfg", "mountPath": "/etc/cfg"}],
                    )
                ],
            },
        },
    )

    def run(*command: str) -> str:
        return stream(core.connect_get_namespaced_pod_exec, "web", ns, command=list(command),
                      stdin=False, stdout=True, stderr=True, tty=False)  # fmt: skip

    assert run("cat", "/etc/cfg/colour") == "blue"
    assert run("sh", "-c", "echo $MODE $HOSTNAME; ls /etc/cfg") == "test web\ncolour\n"
    assert run("nginx", "-v") == "nginx version: nginx/1.27.5\n"
    assert run("top") == (
        "simulated cluster: top does not run here (no containers run in the simulated cluster)\n"
    )


def test_it_logs_what_a_loop_prints_round_after_round(to: Clients, space: str) -> None:
    core = to.core
    ns = space
    script = "while true; do echo tick; sleep 1; done"
    core.create_namespaced_pod(ns, {"metadata": {"name": "ticker"}, "spec": {"containers": [
        container("c", "busybox:1.37", command=["sh", "-c", script])]}})  # fmt: skip

    first = core.read_namespaced_pod_log("ticker", ns)
    time.sleep(1.1)
    later = core.read_namespaced_pod_log("ticker", ns)

    assert first == "tick\n"
    assert later == "tick\ntick\n"


def test_it_serves_events_as_events_k8s_io_too(to: Clients, space: str) -> None:
    api = to.api
    core = to.core
    ns = space
    core.create_namespaced_pod(ns, {"metadata": {"name": "web"},
                                    "spec": {"containers": [container()]}})  # fmt: skip

    events = client.EventsV1Api(api).list_namespaced_event(ns).items
    scheduled = next(e for e in events if e.reason == "Scheduled")
    assert scheduled.regarding.name == "web"
    assert scheduled.note == f"Successfully assigned {ns}/web to standin-node"
    assert scheduled.reporting_controller == "default-scheduler"


def test_it_recreates_and_reports_a_rollout_past_its_progress_deadline(
    to: Clients, space: str
) -> None:
    spec = deployment("web", replicas=2)
    spec["spec"].update(strategy={"type": "Recreate"}, progressDeadlineSeconds=1)
    to.apps.create_namespaced_deployment(space, spec)
    broken = {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:0.0.0-does-not-exist"}]}}}}  # fmt: skip

    to.apps.patch_namespaced_deployment("web", space, broken)

    pods = pods_of(to.core, space, "app=web")
    assert len(pods) == 2
    assert {p.status.phase for p in pods} == {"Pending"}  # the old ones went first
    wait_for(
        lambda: (
            condition(to.apps.read_namespaced_deployment("web", space), "Progressing").reason
            == "ProgressDeadlineExceeded"
        ),
        "the deadline to pass",
    )
    stalled = condition(to.apps.read_namespaced_deployment("web", space), "Progressing")
    assert stalled.status == "False"
    assert stalled.message.endswith("has timed out progressing.")


def test_it_restarts_a_container_whose_liveness_probe_fails(to: Clients, space: str) -> None:
    probe = {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 1,
             "failureThreshold": 2}  # fmt: skip
    to.core.create_namespaced_pod(
        space,
        {"metadata": {"name": "sick"}, "spec": {"containers": [container(livenessProbe=probe)]}},
    )

    wait_for(
        lambda: (
            to.core.read_namespaced_pod("sick", space).status.container_statuses[0].restart_count
            >= 1
        ),
        "a restart",
    )
    events = to.core.list_namespaced_event(space, field_selector="involvedObject.name=sick").items
    messages = {(e.reason, e.message) for e in events}
    assert (
        "Unhealthy",
        "Liveness probe failed: HTTP probe failed with statuscode: 404",
    ) in messages
    assert ("Killing", "Container web failed liveness probe, will be restarted") in messages


def test_it_still_takes_the_former_name_of_its_pace() -> None:
    cluster = KubeStandIn(auto_ready_after=0.5)

    assert cluster.pace == 0.5
    cluster.auto_ready_after = None
    assert cluster.pace is None
