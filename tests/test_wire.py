"""The simulated cluster's wire: protobuf conversion, content negotiation, Tables, field
validation, OpenAPI, Service allocation, autoscaling/v1, and its command-line entry point."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from simcluster import KubeStandIn
from simcluster.protobuf import PROTOBUF, Messages, load_messages
from simcluster.tables import human_duration, pod_status

REPO = Path(__file__).resolve().parent.parent
HAS_KUBECTL = bool(os.environ.get("KUBECTL") or shutil.which("kubectl"))
needs_kubectl = pytest.mark.skipif(
    not HAS_KUBECTL, reason="the protobuf messages are read from kubectl, and none was found"
)


@pytest.fixture
def messages() -> Messages:
    found = load_messages()
    assert found is not None
    return found


def trusting(server: KubeStandIn) -> ssl.SSLContext:
    """A TLS context that trusts the simulated cluster's own CA."""
    return ssl.create_default_context(cadata=server.ca.pem.decode())


def request(
    server: KubeStandIn,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {server.admin_token}", **(headers or {})}
    sent = urllib.request.Request(server.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(sent, timeout=10, context=trusting(server)) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# -- protobuf ---------------------------------------------------------------------------------

POD = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {
        "name": "web",
        "namespace": "lab",
        "labels": {"app": "web"},
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "uid": "0b6e1d2c-0000-4000-8000-000000000001",
        "resourceVersion": "42",
    },
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                "env": [{"name": "MODE",
                         "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}}],
                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
            }
        ],
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
    },
    "status": {
        "phase": "Running",
        "podIP": "10.244.0.5",
        "containerStatuses": [
            {
                "name": "web",
                "ready": True,
                "restartCount": 2,
                "image": "nginx:1.27",
                "state": {"running": {"startedAt": "2026-01-02T03:04:07Z"}},
            }
        ],
    },
}  # fmt: skip
DEPLOYMENT = {
    "kind": "Deployment",
    "apiVersion": "apps/v1",
    "metadata": {"name": "web", "namespace": "lab"},
    "spec": {
        "replicas": 0,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        },
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
    },
}  # fmt: skip
SERVICE = {
    "kind": "Service",
    "apiVersion": "v1",
    "metadata": {"name": "web", "namespace": "lab"},
    "spec": {
        "selector": {"app": "web"},
        "ports": [
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            {"name": "admin", "port": 8080, "targetPort": 9090, "protocol": "TCP"},
        ],
    },
}
CONFIG_MAP = {
    "kind": "ConfigMap",
    "apiVersion": "v1",
    "metadata": {"name": "cfg", "namespace": "lab"},
    "data": {"mode": "fast", "empty": ""},
}
SECRET = {
    "kind": "Secret",
    "apiVersion": "v1",
    "metadata": {"name": "pw", "namespace": "lab"},
    "type": "Opaque",
    "data": {"password": "czNjcmV0"},
}


@needs_kubectl
@pytest.mark.parametrize(
    "obj", [POD, DEPLOYMENT, SERVICE, CONFIG_MAP, SECRET], ids=lambda o: o["kind"]
)
def test_it_converts_objects_to_protobuf_and_back_unchanged(messages: Messages, obj: dict) -> None:
    encoded = messages.encode(obj)

    assert encoded is not None
    assert encoded.startswith(b"k8s\x00")
    assert messages.decode(encoded) == obj


@needs_kubectl
def test_it_writes_the_kubernetes_json_forms_into_the_messages(messages: Messages) -> None:
    descriptor = messages.descriptor("v1", "Service")
    assert descriptor is not None

    message = messages.to_message(SERVICE, descriptor)

    by_name = message.spec.ports[0].targetPort  # type: ignore[attr-defined]
    by_number = message.spec.ports[1].targetPort  # type: ignore[attr-defined]
    assert (by_name.type, by_name.strVal) == (1, "http")
    assert (by_number.type, by_number.intVal) == (0, 9090)
    pod = messages.to_message(POD, messages.descriptor("v1", "Pod"))  # type: ignore[arg-type]
    assert pod.metadata.creationTimestamp.seconds == 1767323045  # type: ignore[attr-defined]
    assert pod.spec.containers[0].resources.limits["cpu"].string == "500m"  # type: ignore[attr-defined]
    # Go embeds VolumeSource in Volume: JSON shows emptyDir beside name.
    assert pod.spec.volumes[0].volumeSource.HasField("emptyDir")  # type: ignore[attr-defined]


@needs_kubectl
def test_it_reads_the_message_definitions_from_the_kubectl_binary(messages: Messages) -> None:
    assert "k8s.io/api/core/v1/generated.proto" in messages.files
    assert "k8s.io/api/policy/v1/generated.proto" in messages.files
    assert messages.descriptor("policy/v1", "Eviction") is not None
    assert messages.descriptor("networking.k8s.io/v1", "Ingress") is not None


@needs_kubectl
def test_it_answers_in_protobuf_when_the_client_prefers_it(
    standin: KubeStandIn, messages: Messages
) -> None:
    accept = {"Accept": f"{PROTOBUF},application/json"}

    status, headers, body = request(standin, "GET", "/api/v1/namespaces/default", headers=accept)
    missing, _, failure = request(standin, "GET", "/api/v1/namespaces/nope", headers=accept)

    assert status == 200
    assert headers["Content-Type"] == PROTOBUF
    assert messages.decode(body)["metadata"]["name"] == "default"
    assert missing == 404
    assert messages.decode(failure)["message"] == 'namespaces "nope" not found'


@needs_kubectl
def test_it_creates_from_a_protobuf_body(standin: KubeStandIn, messages: Messages) -> None:
    body = messages.encode(CONFIG_MAP | {"metadata": {"name": "cfg"}})
    assert body is not None

    status, _, answer = request(
        standin, "POST", "/api/v1/namespaces/default/configmaps", body,
        {"Content-Type": PROTOBUF, "Accept": "application/json"},
    )  # fmt: skip

    assert status == 201
    assert json.loads(answer)["data"] == {"mode": "fast", "empty": ""}
    stored = standin.get("v1", "ConfigMap", "cfg", "default")
    assert stored is not None
    assert stored["data"] == {"mode": "fast", "empty": ""}


@needs_kubectl
def test_it_streams_a_watch_as_length_prefixed_protobuf_frames(
    standin: KubeStandIn, messages: Messages
) -> None:
    sent = urllib.request.Request(
        standin.url + "/api/v1/namespaces?watch=true&timeoutSeconds=1",
        headers={
            "Accept": f"{PROTOBUF},application/json",
            "Authorization": f"Bearer {standin.admin_token}",
        },
    )
    with urllib.request.urlopen(sent, timeout=10, context=trusting(standin)) as answer:
        content_type, stream = answer.headers["Content-Type"], answer.read()

    assert content_type == f"{PROTOBUF};stream=watch"
    size = int.from_bytes(stream[:4], "big")
    # The frame is the bare WatchEvent, as apimachinery's raw stream serializer writes it.
    assert not stream[4:].startswith(b"k8s\x00")
    event = messages.decode_watch_event(stream[4 : 4 + size])
    assert event["type"] == "ADDED"
    assert event["object"]["kind"] == "Namespace"
    assert event["object"]["metadata"]["name"] == "default"


@needs_kubectl
def test_it_refuses_a_protobuf_body_it_cannot_decode_with_415(standin: KubeStandIn) -> None:
    status, _, answer = request(
        standin, "POST", "/apis/apps/v1/namespaces/default/deployments", b"k8s\x00\xff\xff",
        {"Content-Type": PROTOBUF},
    )  # fmt: skip

    assert status == 415
    failure = json.loads(answer)
    assert failure["reason"] == "UnsupportedMediaType"
    assert f"could not be decoded as {PROTOBUF} Deployment" in failure["message"]


def test_it_says_so_when_no_kubectl_gives_it_the_protobuf_messages(
    standin: KubeStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECTL", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    load_messages.cache_clear()
    try:
        status, _, answer = request(
            standin, "POST", "/api/v1/namespaces", b"k8s\x00", {"Content-Type": PROTOBUF}
        )
        listed, headers, _ = request(
            standin, "GET", "/api/v1/namespaces", headers={"Accept": f"{PROTOBUF},application/json"}
        )
    finally:
        load_messages.cache_clear()

    assert status == 415
    assert "none was found" in json.loads(answer)["message"]
    assert "send Namespace as application/json" in json.loads(answer)["message"]
    assert listed == 200
    assert headers["Content-Type"].startswith("application/json")


# -- Tables -----------------------------------------------------------------------------------


def _pod(**status: object) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}, "status": status}


def _container(state: dict, **extra: object) -> dict:
    return {"name": "c", "ready": False, "restartCount": 0, "state": state, **extra}


@pytest.mark.parametrize(
    ("pod", "shown"),
    [
        (_pod(phase="Pending"), "Pending"),
        (_pod(phase="Pending", containerStatuses=[
            _container({"waiting": {"reason": "ContainerCreating"}})]), "ContainerCreating"),
        (_pod(phase="Pending", containerStatuses=[
            _container({"waiting": {"reason": "ErrImagePull"}})]), "ErrImagePull"),
        (_pod(phase="Running", containerStatuses=[
            _container({"waiting": {"reason": "CrashLoopBackOff"}})]), "CrashLoopBackOff"),
        (_pod(phase="Running", containerStatuses=[
            _container({"running": {}}, ready=True)]), "Running"),
        (_pod(phase="Succeeded", containerStatuses=[
            _container({"terminated": {"exitCode": 0, "reason": "Completed"}})]), "Completed"),
        (_pod(phase="Failed", containerStatuses=[
            _container({"terminated": {"exitCode": 1, "reason": "Error"}})]), "Error"),
        (_pod(phase="Failed", containerStatuses=[
            _container({"terminated": {"exitCode": 137}})]), "ExitCode:137"),
        (_pod(phase="Failed", reason="Evicted"), "Evicted"),
    ],
)  # fmt: skip
def test_it_words_a_pods_status_as_kubectl_does(pod: dict, shown: str) -> None:
    assert pod_status(pod) == shown


def test_it_shows_init_containers_and_deletion_in_a_pods_status() -> None:
    initialising = _pod(phase="Pending", initContainerStatuses=[
        _container({"waiting": {"reason": "PodInitializing"}})])  # fmt: skip
    initialising["spec"]["initContainers"] = [{"name": "c"}]
    deleting = _pod(phase="Running")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"

    assert pod_status(initialising) == "Init:0/1"
    assert pod_status(deleting) == "Terminating"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(5, "5s"), (119, "119s"), (250, "4m10s"), (600, "10m"), (3 * 3600 + 120, "3h2m"),
     (30 * 3600, "30h"), (50 * 3600, "2d2h"), (400 * 86400, "400d"), (3 * 365 * 86400, "3y")],
)  # fmt: skip
def test_it_writes_ages_as_kubectl_does(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_it_answers_a_table_with_the_object_only_when_asked(standin: KubeStandIn) -> None:
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    standin.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                 "data": {"a": "1", "b": "2"}})  # fmt: skip

    _, _, plain = request(standin, "GET", "/api/v1/namespaces/default/configmaps/c", headers=accept)
    _, _, full = request(
        standin, "GET", "/api/v1/namespaces/default/configmaps?includeObject=Object", headers=accept
    )
    _, _, bare = request(
        standin, "GET", "/api/v1/namespaces/default/configmaps?includeObject=None", headers=accept
    )

    table = json.loads(plain)
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][:2] == ["c", 2]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    rows = {row["cells"][0]: row for row in json.loads(full)["rows"]}
    assert rows["c"]["object"]["data"] == {"a": "1", "b": "2"}
    assert all("object" not in row for row in json.loads(bare)["rows"])


# -- field validation -------------------------------------------------------------------------

TYPO = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "typo"},
    "spec": {"containers": [{"name": "c", "image": "nginx", "imagePullPolice": "Always"}]},
}


@pytest.mark.parametrize("mode", ["Strict", "Warn", "Ignore", ""])
def test_it_handles_unknown_fields_as_field_validation_asks(
    standin: KubeStandIn, mode: str
) -> None:
    query = f"?fieldValidation={mode}" if mode else ""

    status, headers, body = request(
        standin, "POST", f"/api/v1/namespaces/default/pods{query}", json.dumps(TYPO).encode(),
        {"Content-Type": "application/json"},
    )  # fmt: skip

    unknown = 'unknown field "spec.containers[0].imagePullPolice"'
    if mode == "Strict":
        assert status == 400
        assert json.loads(body)["message"] == (
            f'Pod in version "v1" cannot be handled as a Pod: strict decoding error: {unknown}'
        )
        assert standin.get("v1", "Pod", "typo", "default") is None
        return
    assert status == 201
    warned = headers.get("Warning", "")
    assert (unknown.replace('"', '\\"') in warned) == (mode != "Ignore")
    stored = standin.get("v1", "Pod", "typo", "default")
    assert stored is not None
    assert "imagePullPolice" not in stored["spec"]["containers"][0]


def test_it_refuses_an_unknown_field_in_a_strict_patch(standin: KubeStandIn) -> None:
    standin.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})

    status, _, body = request(
        standin, "PATCH", "/api/v1/namespaces/default/configmaps/c?fieldValidation=Strict",
        b'{"dta": {"a": "1"}}', {"Content-Type": "application/merge-patch+json"},
    )  # fmt: skip

    assert status == 400
    assert json.loads(body)["message"] == 'strict decoding error: unknown field "dta"'


# -- OpenAPI ----------------------------------------------------------------------------------


def test_it_lists_openapi_v3_documents_that_offer_field_validation(standin: KubeStandIn) -> None:
    _, _, index = request(standin, "GET", "/openapi/v3")
    url = json.loads(index)["paths"]["api/v1"]["serverRelativeURL"]

    status, headers, body = request(standin, "GET", url)

    assert status == 200
    assert headers["Cache-Control"] == "public, immutable"
    document = json.loads(body)
    patch = document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    containers = document["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"][
        "containers"
    ]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}


def test_it_serves_openapi_v2_as_json_and_refuses_protobuf(standin: KubeStandIn) -> None:
    status, _, body = request(standin, "GET", "/openapi/v2", headers={"Accept": "application/json"})
    refused, _, _ = request(
        standin, "GET", "/openapi/v2",
        headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"},
    )  # fmt: skip

    document = json.loads(body)
    assert status == 200
    assert document["swagger"] == "2.0"
    assert document["definitions"]["io.k8s.api.apps.v1.Deployment"][
        "x-kubernetes-group-version-kind"
    ]
    assert refused == 406


# -- Services ---------------------------------------------------------------------------------


def core_api(standin: KubeStandIn) -> client.CoreV1Api:
    return client.CoreV1Api(standin.api_client())


def _service(name: str, **spec: object) -> dict:
    return {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}], **spec}}


def test_it_fills_a_services_defaults_and_allocates_its_cluster_ip(standin: KubeStandIn) -> None:
    core = core_api(standin)
    made = core.create_namespaced_service("default", _service("web", selector={"app": "web"}))

    spec = made.spec
    assert spec.type == "ClusterIP"
    assert spec.session_affinity == "None"
    assert spec.cluster_ip.startswith("10.")
    assert spec.cluster_ips == [spec.cluster_ip]
    assert spec.ip_families == ["IPv4"]
    assert spec.ip_family_policy == "SingleStack"
    assert spec.internal_traffic_policy == "Cluster"
    assert (spec.ports[0].protocol, spec.ports[0].target_port) == ("TCP", 80)
    assert spec.cluster_ip != "10.96.0.1"  # the kubernetes service's, made at start


def test_it_gives_node_ports_that_differ_and_refuses_a_taken_one(standin: KubeStandIn) -> None:
    core = core_api(standin)
    first = core.create_namespaced_service("default", _service("a", type="NodePort"))
    second = core.create_namespaced_service("default", _service("b", type="NodePort"))
    taken = first.spec.ports[0].node_port
    clash = _service("c", type="NodePort", ports=[{"port": 80, "nodePort": taken}])

    with pytest.raises(ApiException) as refused:
        core.create_namespaced_service("default", clash)

    assert 30000 <= taken <= 32767
    assert taken != second.spec.ports[0].node_port
    assert refused.value.status == 422
    assert json.loads(refused.value.body)["message"] == (
        f'Service "c" is invalid: spec.ports[0].nodePort: Invalid value: {taken}: '
        "provided port is already allocated"
    )


def test_it_refuses_a_cluster_ip_already_taken(standin: KubeStandIn) -> None:
    core = core_api(standin)
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_service("default", _service("dup", clusterIP="10.96.0.1"))

    assert refused.value.status == 422
    assert (
        'spec.clusterIPs: Invalid value: []string{"10.96.0.1"}: failed to allocate IP '
        "10.96.0.1: provided IP is already allocated" in json.loads(refused.value.body)["message"]
    )


def test_it_keeps_headless_and_external_name_services_without_an_ip(standin: KubeStandIn) -> None:
    core = core_api(standin)
    headless = core.create_namespaced_service("default", _service("h", clusterIP="None"))
    external = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "x"},
            "spec": {"type": "ExternalName", "externalName": "example.com"},
        },
    )

    assert headless.spec.cluster_ip == "None"
    assert headless.spec.cluster_ips == ["None"]
    assert external.spec.cluster_ip is None
    assert external.spec.ip_families is None


def test_it_keeps_a_services_cluster_ip_on_an_update_that_leaves_it_out(
    standin: KubeStandIn,
) -> None:
    core = core_api(standin)
    made = core.create_namespaced_service("default", _service("keep"))
    body = _service("keep", selector={"app": "other"})
    body["metadata"]["resourceVersion"] = made.metadata.resource_version

    replaced = core.replace_namespaced_service("keep", "default", body)

    assert replaced.spec.cluster_ip == made.spec.cluster_ip
    assert replaced.spec.selector == {"app": "other"}


# -- autoscaling/v1 beside v2 -----------------------------------------------------------------


def test_it_serves_autoscaling_v1_as_a_view_of_the_v2_objects(standin: KubeStandIn) -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "maxReplicas": 5, "targetCPUUtilizationPercentage": 70},
    }  # fmt: skip
    status, _, body = request(
        standin, "POST", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers",
        json.dumps(v1).encode(), {"Content-Type": "application/json"},
    )  # fmt: skip
    _, _, listed = request(
        standin, "GET", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
    )

    assert status == 201
    created = json.loads(body)
    assert created["apiVersion"] == "autoscaling/v1"
    assert created["spec"]["targetCPUUtilizationPercentage"] == 70
    assert created["spec"]["minReplicas"] == 1
    assert "metrics" not in created["spec"]
    assert json.loads(listed)["items"][0]["apiVersion"] == "autoscaling/v1"
    stored = standin.get("autoscaling/v2", "HorizontalPodAutoscaler", "web", "default")
    assert stored is not None
    assert stored["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]  # fmt: skip


# -- the entry point --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _default_signals() -> None:
    # A terminal's Ctrl-C reaches the process as SIGINT; a parent may have left it ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stops_cleanly(command: list[str], config: Path, port: int, stop: signal.Signals) -> None:
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, text=True, preexec_fn=_default_signals
    )
    try:
        deadline = time.monotonic() + 120
        while not config.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert config.exists(), "no kubeconfig was written"
        admin = yaml.safe_load(config.read_text())
        ca_pem = base64.b64decode(admin["clusters"][0]["cluster"]["certificate-authority-data"])
        trusted = ssl.create_default_context(cadata=ca_pem.decode())
        with urllib.request.urlopen(
            f"https://127.0.0.1:{port}/readyz", timeout=5, context=trusted
        ) as answer:
            assert answer.read() == b"ok"
        process.send_signal(stop)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    with socket.socket() as sock:
        # Nothing listens there any more (a connection's TIME_WAIT may linger, as it would).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_it_stops_cleanly_on_sigterm_and_ctrl_c(tmp_path: Path, stop: signal.Signals) -> None:
    port, config = _free_port(), tmp_path / "admin.kubeconfig"

    _stops_cleanly(
        [sys.executable, "-m", "simcluster", "--port", str(port), "--kubeconfig", str(config)],
        config,
        port,
        stop,
    )


@pytest.mark.skipif(
    not (REPO / ".venv" / "bin" / "python").exists(),
    reason="./dev simulate installs into the repository's .venv, which this checkout lacks",
)
def test_it_runs_alone_with_dev_simulate(tmp_path: Path) -> None:
    port, config = _free_port(), tmp_path / "admin.kubeconfig"

    _stops_cleanly(
        ["./dev", "simulate", "--port", str(port), "--kubeconfig", str(config)],
        config,
        port,
        signal.SIGTERM,
    )


def test_it_ages_rows_from_the_creation_time() -> None:
    created = (datetime.now(UTC) - timedelta(minutes=4, seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pod = _pod(phase="Running")
    pod["metadata"]["creationTimestamp"] = created
    from simcluster.resources import known
    from simcluster.tables import table

    row = table(known("", "v1", "pods"), pod)["rows"][0]["cells"]

    assert row[4] in ("4m10s", "4m11s")
