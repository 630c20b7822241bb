"""The rules of the simulated cluster, tested as pure functions without a server: the rollout
arithmetic, the pod status machine, quantities and quota, Pod Security, LimitRange, cron
schedules, the image catalogue and what a container's command does."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from simcluster import podsecurity
from simcluster.containers.images import PullFailure, find, reference
from simcluster.containers.node import Node
from simcluster.containers.programs import model
from simcluster.containers.world import World, nginx_version
from simcluster.controllers.endpoints import subsets_of
from simcluster.controllers.podstatus import ContainerState, conditions, phase
from simcluster.controllers.replicasets import deletion_rank
from simcluster.controllers.rollout import (
    Counts,
    complete,
    equal_ignoring_hash,
    fenceposts,
    new_replicas,
    old_scale_down,
    progressing,
    set_condition,
    template_hash,
)
from simcluster.cron import ScheduleError, parse_schedule
from simcluster.errors import ApiError
from simcluster.limitranger import apply as apply_limits
from simcluster.limitranger import default_limit_range
from simcluster.limitranger import validate as validate_limits
from simcluster.quantity import QuantityError, canonical, parse, total
from simcluster.quota import check, object_usage, quota_status
from simcluster.resources import known
from simcluster.store import Store

PODS = known("", "v1", "pods")
SERVICES = known("", "v1", "services")
NAMESPACES = known("", "v1", "namespaces")


# -- quantities -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [("100m", "100m"), ("0.5", "500m"), ("1.5", "1500m"), ("2000m", "2"), ("2", "2"),
     ("128Mi", "128Mi"), ("1.5Gi", "1536Mi"), ("1e3", "1e3"), ("1500", "1500"), ("0", "0")],
)  # fmt: skip
def test_it_writes_quantities_in_their_canonical_form(text: str, shown: str) -> None:
    assert str(parse(text)) == shown


def test_it_adds_quantities_in_the_format_of_the_first() -> None:
    assert str(total([parse("128Mi"), parse("256Mi")])) == "384Mi"
    assert str(total([parse("250m"), parse("250m"), parse("1")])) == "1500m"
    assert str(total([])) == "0"
    assert canonical(Decimal("0.25")) == "250m"
    with pytest.raises(QuantityError):
        parse("lots")


# -- the rollout ------------------------------------------------------------------------------


def test_it_resolves_surge_up_and_unavailability_down() -> None:
    assert fenceposts({"maxSurge": "25%", "maxUnavailable": "25%"}, 3) == (1, 0)
    assert fenceposts({"maxSurge": "25%", "maxUnavailable": "25%"}, 10) == (3, 2)
    assert fenceposts({"maxSurge": 0, "maxUnavailable": 0}, 3) == (0, 1)
    assert fenceposts({"maxSurge": 2, "maxUnavailable": 1}, 5) == (2, 1)


def test_it_steps_a_rolling_update_of_three_replicas_one_pod_at_a_time() -> None:
    # 3 replicas, maxSurge 1, maxUnavailable 0: one new pod, then one old pod less, ...
    old, new = Counts(3, 3), Counts(0, 0)
    assert new_replicas(3, 1, [old, new], new) == 1
    new = Counts(1, 0)
    assert old_scale_down(3, 0, [old], new) == ([3], 0)  # the new pod is not available yet
    new = Counts(1, 1)
    assert old_scale_down(3, 0, [old], new) == ([2], 1)
    assert new_replicas(3, 1, [Counts(2, 2), new], new) == 2


def test_it_takes_unhealthy_old_pods_first_and_never_goes_below_the_minimum() -> None:
    # Two old sets: the older has two pods that never became available.
    sizes, removed = old_scale_down(4, 1, [Counts(2, 0), Counts(3, 3)], Counts(0, 0))
    assert sizes == [0, 3]
    assert removed == 2
    sizes, removed = old_scale_down(4, 1, [Counts(4, 4)], Counts(1, 0))
    assert (sizes, removed) == ([3], 1)  # 4 available and 3 needed: one old pod may go
    sizes, removed = old_scale_down(3, 0, [Counts(3, 3)], Counts(1, 0))
    assert (sizes, removed) == ([3], 0)  # 3 available and 3 needed: none may go


def test_it_knows_a_complete_and_a_progressing_rollout() -> None:
    done = {"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3, "observedGeneration": 2}
    assert complete(3, done, 2)
    assert not complete(3, {**done, "replicas": 4}, 2)
    assert not complete(3, done, 3)
    assert progressing({"updatedReplicas": 1}, {"updatedReplicas": 2})
    assert progressing({"replicas": 4, "updatedReplicas": 2}, {"replicas": 3, "updatedReplicas": 2})
    assert not progressing({"readyReplicas": 3}, {"readyReplicas": 3})


def test_it_hashes_templates_as_replicaset_names_end() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "w"}]}}
    hashed = template_hash(template)
    assert hashed == template_hash(template)
    assert hashed != template_hash(template, 1)
    assert set(hashed) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert 1 <= len(hashed) <= 10
    with_hash = {"metadata": {"labels": {"app": "web", "pod-template-hash": hashed},
                              "creationTimestamp": None}, "spec": template["spec"]}  # fmt: skip
    assert equal_ignoring_hash(template, with_hash)
    assert not equal_ignoring_hash(template, {**template, "spec": {"containers": []}})


def test_it_sets_a_condition_keeping_its_transition_time() -> None:
    first = set_condition([], {"type": "Progressing", "status": "True", "reason": "A"}, "t1")
    same = set_condition(first, {"type": "Progressing", "status": "True", "reason": "A"}, "t2")
    moved = set_condition(first, {"type": "Progressing", "status": "True", "reason": "B"}, "t3")
    assert same == first
    assert moved[0]["lastTransitionTime"] == "t1"
    assert moved[0]["lastUpdateTime"] == "t3"
    both = set_condition(moved, {"type": "Available", "status": "True", "reason": "C"}, "t4")
    again = set_condition(both, {"type": "Progressing", "status": "False", "reason": "D"}, "t5")
    assert [c["type"] for c in again] == ["Available", "Progressing"]
    assert again[-1]["lastTransitionTime"] == "t5"


def test_it_deletes_the_least_valuable_pods_first() -> None:
    def pod(name: str, node: str = "n", phase: str = "Running", ready: bool = True) -> dict:
        condition = {"type": "Ready", "status": "True" if ready else "False"}
        return {"metadata": {"name": name, "creationTimestamp": "2025-01-01T00:00:00Z"},
                "spec": {"nodeName": node} if node else {},
                "status": {"phase": phase, "conditions": [condition]}}  # fmt: skip

    pods = [pod("ready"), pod("unscheduled", node="", phase="Pending", ready=False),
            pod("pending", phase="Pending", ready=False), pod("unready", ready=False)]  # fmt: skip
    assert [p["metadata"]["name"] for p in sorted(pods, key=deletion_rank)] == [
        "unscheduled", "pending", "unready", "ready",
    ]  # fmt: skip


# -- the pod status machine --------------------------------------------------------------------


def running(name: str, ready: bool = True) -> ContainerState:
    return ContainerState(name, "nginx", {"running": {"startedAt": "t"}}, ready=ready, started=True)


def exited(name: str, code: int) -> ContainerState:
    return ContainerState(name, "busybox", {"terminated": {"exitCode": code}})


def test_it_works_out_the_phase_as_the_kubelet_does() -> None:
    waiting = ContainerState("web", "nginx", {"waiting": {"reason": "ErrImagePull"}})
    crashed = ContainerState("web", "busybox", {"waiting": {"reason": "CrashLoopBackOff"}},
                             last_state={"terminated": {"exitCode": 1}})  # fmt: skip
    init = ContainerState("init", "busybox", {"running": {}}, init=True)
    assert phase([waiting], "Always") == "Pending"
    assert phase([running("web")], "Always") == "Running"
    assert phase([crashed], "Always") == "Running"
    assert phase([exited("job", 0)], "Never") == "Succeeded"
    assert phase([exited("job", 3)], "Never") == "Failed"
    assert phase([exited("job", 3)], "OnFailure") == "Running"
    assert phase([exited("a", 0), running("b")], "Never") == "Running"
    assert phase([init, running("web")], "Always") == "Pending"
    assert phase([exited("init", 1), running("web")], "Never") == "Running"
    assert phase([ContainerState("init", "b", {"terminated": {"exitCode": 1}}, init=True),
                  ContainerState("web", "n")], "Never") == "Failed"  # fmt: skip


def test_it_reports_the_conditions_with_their_reasons() -> None:
    found = {c["type"]: c for c in conditions([running("web", ready=False)], "Running", True,
                                              [], "now")}  # fmt: skip
    assert found["Ready"]["status"] == "False"
    assert found["Ready"]["reason"] == "ContainersNotReady"
    assert found["Ready"]["message"] == "containers with unready status: [web]"
    assert found["PodScheduled"]["status"] == "True"
    done = {c["type"]: c for c in conditions([exited("job", 0)], "Succeeded", True, [], "now")}
    assert done["Ready"]["reason"] == "PodCompleted"
    assert done["PodReadyToStartContainers"]["status"] == "False"
    kept = conditions([running("web")], "Running", True,
                      [{"type": "Ready", "status": "True", "lastTransitionTime": "before"}],
                      "now")  # fmt: skip
    assert {c["type"]: c for c in kept}["Ready"]["lastTransitionTime"] == "before"


# -- quota and limits ----------------------------------------------------------------------------


def namespace_store() -> Store:
    store = Store()
    store.create(NAMESPACES, {"metadata": {"name": "lab"}})
    accounts = known("", "v1", "serviceaccounts")
    store.create(accounts, {"metadata": {"name": "default", "namespace": "lab"}})
    return store


def pod(name: str, cpu: str | None = "250m", memory: str | None = None) -> dict:
    limits = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    resources = {"limits": limits, "requests": dict(limits)} if limits else {}
    return {
        "metadata": {"name": name, "namespace": "lab"},
        "spec": {"containers": [{"name": name, "image": "nginx", "resources": resources}]},
    }


def test_it_counts_what_a_pod_and_a_service_use() -> None:
    used = object_usage(PODS, pod("web", "250m", "256Mi"))
    assert {k: str(v) for k, v in used.items()} == {
        "count/pods": "1", "pods": "1", "requests.cpu": "250m", "limits.cpu": "250m",
        "requests.memory": "256Mi", "limits.memory": "256Mi", "cpu": "250m", "memory": "256Mi",
    }  # fmt: skip
    finished = {**pod("done"), "status": {"phase": "Succeeded"}}
    assert object_usage(PODS, finished) == {}
    balancer = {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}}
    shown = {k: str(v) for k, v in object_usage(SERVICES, balancer).items()}
    assert shown["services.loadbalancers"] == "1"
    assert shown["services.nodeports"] == "2"


def test_it_refuses_a_pod_beyond_the_quota_with_the_api_servers_words() -> None:
    store = namespace_store()
    quotas = known("", "v1", "resourcequotas")
    store.create(quotas, {"metadata": {"name": "lab", "namespace": "lab"},
                          "spec": {"hard": {"limits.cpu": "500m", "pods": "5"}}})  # fmt: skip
    store.create(PODS, pod("a"))
    store.create(PODS, pod("b"))

    with pytest.raises(ApiError) as refused:
        check(store, PODS, pod("c"), None, "c")
    with pytest.raises(ApiError) as unspecified:
        check(store, PODS, pod("d", cpu=None), None, "d")

    assert refused.value.code == 403
    assert refused.value.message == (
        'pods "c" is forbidden: exceeded quota: lab, requested: limits.cpu=250m, used: '
        "limits.cpu=500m, limited: limits.cpu=500m"
    )
    assert unspecified.value.message == (
        'pods "d" is forbidden: failed quota: lab: must specify limits.cpu for: d'
    )
    status = quota_status(store, store.get(quotas, "lab", "lab"))
    assert status == {"hard": {"limits.cpu": "500m", "pods": "5"},
                      "used": {"limits.cpu": "500m", "pods": "2"}}  # fmt: skip


def test_it_applies_limit_range_defaults_and_refuses_beyond_the_maximum() -> None:
    store = namespace_store()
    limit_range = {
        "metadata": {"name": "lab", "namespace": "lab"},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "250m"},
                    "max": {"cpu": "1", "memory": "1Gi"},
                }
            ]
        },
    }
    default_limit_range(limit_range)
    assert limit_range["spec"]["limits"][0]["default"] == {"cpu": "250m", "memory": "1Gi"}
    assert limit_range["spec"]["limits"][0]["defaultRequest"] == {"cpu": "250m", "memory": "1Gi"}
    store.create(known("", "v1", "limitranges"), limit_range)
    new = pod("web", cpu=None)

    apply_limits(store, PODS, new)

    resources = new["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "250m", "memory": "1Gi"},
                         "limits": {"cpu": "250m", "memory": "1Gi"}}  # fmt: skip
    assert new["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container web; cpu, memory limit for "
        "container web"
    )
    with pytest.raises(ApiError) as refused:
        validate_limits(store, PODS, pod("big", cpu="2", memory="512Mi"), "big")
    assert refused.value.message == (
        'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
    )


# -- Pod Security ---------------------------------------------------------------------------


def test_it_finds_what_restricted_refuses_in_a_root_nginx_in_the_plugins_order() -> None:
    spec = {"containers": [{"name": "nginx", "image": "nginx"}]}

    assert podsecurity.evaluate("baseline", spec) == []
    assert podsecurity.evaluate("restricted", spec) == [
        'allowPrivilegeEscalation != false (container "nginx" must set '
        "securityContext.allowPrivilegeEscalation=false)",
        'unrestricted capabilities (container "nginx" must set '
        'securityContext.capabilities.drop=["ALL"])',
        'runAsNonRoot != true (pod or container "nginx" must set '
        "securityContext.runAsNonRoot=true)",
        'seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type '
        'to "RuntimeDefault" or "Localhost")',
    ]


def test_it_finds_what_baseline_refuses() -> None:
    spec = {
        "hostNetwork": True,
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        "containers": [
            {"name": "a", "image": "x", "securityContext": {"privileged": True}},
            {"name": "b", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}],
             "securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN"]}}},
        ],
    }  # fmt: skip
    assert podsecurity.evaluate("baseline", spec) == [
        'non-default capabilities (container "b" must not include "NET_ADMIN" in '
        "securityContext.capabilities.add)",
        "host namespaces (hostNetwork=true)",
        'hostPath volumes (volume "root")',
        'hostPort (container "b" uses hostPort 8080)',
        'privileged (container "a" must not set securityContext.privileged=true)',
    ]


def test_it_admits_a_pod_made_for_restricted() -> None:
    spec = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "image": "x", "securityContext": {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
    }  # fmt: skip
    assert podsecurity.evaluate("restricted", spec) == []


# -- cron -------------------------------------------------------------------------------------


def test_it_reads_cron_schedules() -> None:
    every_five = parse_schedule("*/5 * * * *")
    after = datetime(2025, 3, 1, 10, 2, tzinfo=UTC)
    assert every_five.next_after(after) == datetime(2025, 3, 1, 10, 5, tzinfo=UTC)
    hourly = parse_schedule("@hourly")
    assert hourly.next_after(after) == datetime(2025, 3, 1, 11, 0, tzinfo=UTC)
    weekdays = parse_schedule("30 9 * * mon-fri")
    assert weekdays.next_after(after) == datetime(2025, 3, 3, 9, 30, tzinfo=UTC)  # a Monday
    last, count = every_five.last_between(after, datetime(2025, 3, 1, 10, 17, tzinfo=UTC))
    assert (last, count) == (datetime(2025, 3, 1, 10, 15, tzinfo=UTC), 3)
    with pytest.raises(ScheduleError, match="expected exactly 5 fields, found 3"):
        parse_schedule("* * *")


# -- images and what containers run --------------------------------------------------------------


def test_it_pulls_the_catalogues_images_and_fails_others_as_containerd_says() -> None:
    for text in (
        "nginx",
        "nginx:1.27",
        "nginx:1.28.0-alpine",
        "busybox:1.37",
        "alpine:3.22",
        "registry.k8s.io/pause:3.10",
        "bitnami/kubectl:1.34",
        "curlimages/curl:8.11.1",
    ):
        find(reference(text))  # fmt: skip
    with pytest.raises(PullFailure) as unknown_tag:
        find(reference("nginx:0.0.0-does-not-exist"))
    with pytest.raises(PullFailure) as unknown_repository:
        find(reference("my-image"))
    assert unknown_tag.value.message.endswith(
        'failed to resolve reference "docker.io/library/nginx:0.0.0-does-not-exist": '
        "docker.io/library/nginx:0.0.0-does-not-exist: not found"
    )
    assert "pull access denied, repository does not exist" in unknown_repository.value.message
    assert nginx_version("nginx:1.27") == "1.27.5"
    assert nginx_version("nginx:1.28.0") == "1.28.0"


def world(container: dict, **spec: object) -> World:
    pod = {
        "metadata": {"name": "p", "namespace": "lab", "uid": "u"},
        "spec": {"containers": [container], **spec},
        "status": {"podIP": "10.244.0.9"},
    }
    return World(Node(Store(), "node", "172.18.0.2"), pod, container,
                 started=datetime(2025, 1, 1, tzinfo=UTC))  # fmt: skip


def test_it_works_out_what_a_containers_command_does() -> None:
    server = model(world({"name": "web", "image": "nginx:1.27"}))
    default_shell = model(world({"name": "c", "image": "busybox:1.37"}))
    fails = model(
        world({"name": "c", "image": "busybox", "command": ["sh", "-c", "echo bye; exit 3"]})
    )
    sleeps = model(world({"name": "c", "image": "busybox", "args": ["sleep", "30"]}))
    waits = model(world({"name": "c", "image": "busybox", "command": ["sleep", "infinity"]}))
    interactive = model(world({"name": "c", "image": "busybox", "stdin": True}), stdin_open=True)

    assert server.ends is None
    assert server.stops_on_term
    assert "nginx/1.27.5" in "".join(c.text for c in server.chunks)
    assert (default_shell.ends, default_shell.exit_code) == (0.0, 0)
    assert (fails.ends, fails.exit_code, [c.text for c in fails.chunks]) == (0.0, 3, ["bye\n"])
    assert (sleeps.ends, sleeps.exit_code, sleeps.stops_on_term) == (30.0, 0, False)
    assert waits.ends is None
    assert not waits.stops_on_term
    assert interactive.interactive


def test_it_takes_a_loop_that_keeps_going_to_repeat_its_round() -> None:
    script = "echo start; while true; do echo tick; sleep 5; done"
    looping = model(world({"name": "c", "image": "busybox", "command": ["sh", "-c", script]}))
    trapped = model(
        world(
            {
                "name": "c",
                "image": "busybox",
                "command": ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"],
            }
        )
    )

    assert looping.ends is None
    assert looping.repeat is not None
    assert looping.repeat.period == 5.0
    assert [c.text for c in looping.repeat.round] == ["tick\n"]
    assert looping.chunks[0].text == "start\n"
    assert trapped.ends is None
    assert trapped.stops_on_term


def test_it_reads_the_containers_environment_and_mounted_files() -> None:
    script = "echo $GREETING; cat /etc/hostname; printenv HOME; ls /etc/config || echo none"
    container = {
        "name": "c",
        "image": "busybox",
        "command": ["sh", "-c", script],
        "env": [
            {"name": "GREETING", "value": "hello $(HOSTNAME)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
    }
    ran = model(world(container))
    assert "".join(c.text for c in ran.chunks) == (
        "hello $(HOSTNAME)\np\n/root\nls: /etc/config: No such file or directory\nnone\n"
    )


def test_it_groups_endpoints_by_ports_and_readiness() -> None:
    service = {
        "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "web"}]},
    }

    def member(name: str, ip: str, ready: bool) -> dict:
        return {"metadata": {"name": name, "namespace": "lab", "uid": name},
                "spec": {"nodeName": "n", "containers": [
                    {"name": "c", "ports": [{"name": "web", "containerPort": 8080}]}]},
                "status": {"podIP": ip, "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False"}]}}  # fmt: skip

    subsets = subsets_of(service, [member("b", "10.244.0.10", True),
                                   member("a", "10.244.0.9", True),
                                   member("c", "10.244.0.11", False)])  # fmt: skip
    assert len(subsets) == 1
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.244.0.9", "10.244.0.10"]
    assert [a["ip"] for a in subsets[0]["notReadyAddresses"]] == ["10.244.0.11"]
    assert subsets[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_it_says_what_is_wrong_with_a_script_as_sh_does() -> None:
    broken = model(
        world(
            {
                "name": "c",
                "image": "busybox",
                "command": ["sh", "-c", "while true; echo tick; sleep 1; done"],
            }
        )
    )
    assert (broken.ends, broken.exit_code) == (0.0, 2)
    assert [c.text for c in broken.chunks] == [
        'sh: syntax error: unexpected "done" (expecting "do")\n'
    ]
