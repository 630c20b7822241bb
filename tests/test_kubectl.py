"""The real ``kubectl`` against the simulated cluster, as a trainee types it: the output asserted
is what the trainee reads (column headers, cells, messages), not only exit codes.

One simulated cluster serves the module; each test works in a namespace of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from simcluster import KubeStandIn
from simcluster.resources import known

KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl")
pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="no kubectl binary found (set KUBECTL or put kubectl on PATH)"
)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeStandIn, Path]]:
    """A simulated cluster whose pods run at once, and an admin kubeconfig file for it."""
    folder = tmp_path_factory.mktemp("kubectl")
    with KubeStandIn(pace=0).start() as server:
        config = folder / "kubeconfig"
        config.write_text(yaml.safe_dump(server.kubeconfig()))
        yield server, folder


def kubectl(
    simulated: tuple[KubeStandIn, Path],
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    _, folder = simulated
    command = [
        str(KUBECTL),
        f"--kubeconfig={folder / 'kubeconfig'}",
        f"--cache-dir={folder / 'cache'}",
        *args,
    ]
    done = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def table(output: str) -> list[list[str]]:
    """kubectl's columns split on their two-space gaps."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()]


def namespace(simulated: tuple[KubeStandIn, Path], name: str) -> str:
    kubectl(simulated, "create", "namespace", name)
    return name


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  containers:
  - name: web
    image: nginx:1.27
    {extra}
"""


# -- get: the server's columns ----------------------------------------------------------------


def test_it_shows_pods_with_ready_status_restarts_and_age(simulated) -> None:
    ns = namespace(simulated, "get-pods")
    kubectl(simulated, "run", "web", "--image=nginx", "-n", ns)

    rows = table(kubectl(simulated, "get", "pods", "-n", ns).stdout)

    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[1][:4] == ["web", "1/1", "Running", "0"]
    assert re.fullmatch(r"\d+s", rows[1][4])


def test_it_shows_a_pods_ip_and_node_with_wide_output(simulated) -> None:
    server, _ = simulated
    ns = namespace(simulated, "get-wide")
    kubectl(simulated, "run", "web", "--image=nginx", "-n", ns)
    pod = server.get("v1", "Pod", "web", ns)
    assert pod is not None

    rows = table(kubectl(simulated, "get", "pods", "-o", "wide", "-n", ns).stdout)

    assert rows[0] == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
        "READINESS GATES",
    ]  # fmt: skip
    assert rows[1][5:] == [pod["status"]["podIP"], "standin-node", "<none>", "<none>"]


def test_it_shows_a_pending_pod_and_one_that_crashes_as_kubectl_words_them(simulated) -> None:
    server, _ = simulated
    ns = namespace(simulated, "get-states")
    server.pace = None  # no kubelet: the statuses below are the test's own
    try:
        kubectl(simulated, "run", "waiting", "--image=nginx", "-n", ns)
        kubectl(simulated, "run", "crashing", "--image=nginx", "-n", ns)
        back_off = {"waiting": {"reason": "CrashLoopBackOff"}}
        last = {"terminated": {"exitCode": 1, "reason": "Error",
                               "finishedAt": "2020-01-01T00:00:00Z"}}  # fmt: skip
        server.set_status(
            "v1",
            "Pod",
            "crashing",
            ns,
            {"containerStatuses": [{"name": "crashing", "ready": False, "restartCount": 4,
                                    "image": "nginx", "imageID": "", "state": back_off,
                                    "lastState": last}]},
        )  # fmt: skip

        rows = {row[0]: row for row in table(kubectl(simulated, "get", "pods", "-n", ns).stdout)}
    finally:
        kubectl(simulated, "delete", "namespace", ns)
        server.pace = 0

    assert rows["waiting"][1:4] == ["0/1", "Pending", "0"]
    assert rows["crashing"][1:3] == ["0/1", "CrashLoopBackOff"]
    assert re.fullmatch(r"4 \(\d+y\d*d? ago\)|4 \(\d+d ago\)", rows["crashing"][3])


def test_it_sends_table_rows_on_a_watch(simulated) -> None:
    _, folder = simulated
    ns = namespace(simulated, "get-watch")
    kubectl(simulated, "run", "first", "--image=nginx", "-n", ns)
    watching = subprocess.Popen(
        [str(KUBECTL), f"--kubeconfig={folder / 'kubeconfig'}", f"--cache-dir={folder / 'cache'}",
         "get", "pods", "-w", "-n", ns],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert watching.stdout is not None
        header, first = watching.stdout.readline(), watching.stdout.readline()
        kubectl(simulated, "run", "second", "--image=nginx", "-n", ns)
        second = watching.stdout.readline()
    finally:
        watching.terminate()
        watching.wait(10)

    assert table(header)[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table(first)[0][:3] == ["first", "1/1", "Running"]
    assert table(second)[0][0] == "second"


def test_it_shows_each_kind_of_the_course_with_its_columns(simulated) -> None:
    ns = namespace(simulated, "get-kinds")
    manifests = f"""\
apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: rs}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: rs}}}}
  template:
    metadata: {{labels: {{app: rs}}}}
    spec: {{containers: [{{name: web, image: nginx}}]}}
---
apiVersion: v1
kind: Endpoints
metadata: {{name: ep}}
subsets:
- addresses: [{{ip: 10.244.0.7}}, {{ip: 10.244.0.8}}]
  ports: [{{port: 80}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Gi}}}}
  storageClassName: standard
---
apiVersion: v1
kind: Event
metadata: {{name: web.1}}
involvedObject: {{kind: Pod, name: web, namespace: {ns}}}
reason: Pulled
message: Successfully pulled image "nginx"
type: Normal
lastTimestamp: "2020-01-01T00:00:00Z"
"""
    kubectl(simulated, "apply", "-n", ns, "-f", "-", stdin=manifests)
    kubectl(simulated, "create", "job", "once", "--image=busybox", "-n", ns)
    # Yearly, so that it does not come due while the test runs.
    kubectl(simulated, "create", "cronjob", "tick", "--image=busybox",
            "--schedule=0 0 1 1 *", "-n", ns)  # fmt: skip
    kubectl(simulated, "create", "deployment", "web", "--image=nginx", "-n", ns)
    kubectl(simulated, "autoscale", "deployment", "web", "--max=4", "--cpu-percent=60", "-n", ns)
    kubectl(simulated, "create", "ingress", "site", "--rule=a.example.com/=web:80", "-n", ns)

    def shown(*args: str) -> list[list[str]]:
        return table(kubectl(simulated, "get", *args, "-n", ns).stdout)

    rs = shown("replicasets")
    assert rs[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert rs[1][:2] == ["rs", "2"]
    ep = shown("endpoints")
    assert ep[0] == ["NAME", "ENDPOINTS", "AGE"]
    assert ep[1][:2] == ["ep", "10.244.0.7:80,10.244.0.8:80"]
    pvc = shown("pvc")
    assert pvc[0][:6] == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS"]
    assert pvc[1][0] == "data"
    assert "standard" in pvc[1]
    events = shown("events")
    assert events[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    written = [row for row in events if row[3:4] == ["pod/web"]]
    assert [row[1:] for row in written] == [
        ["Normal", "Pulled", "pod/web", 'Successfully pulled image "nginx"']
    ]
    jobs = shown("jobs")
    assert jobs[0] == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert jobs[1][:3] == ["once", "Complete", "1/1"]  # busybox's sh ends at once
    cron = shown("cronjobs")
    assert cron[0] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"]
    assert cron[1][:6] == ["tick", "0 0 1 1 *", "<none>", "False", "0", "<none>"]
    hpa = shown("hpa")
    assert hpa[0] == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert hpa[1][:5] == ["web", "Deployment/web", "cpu: <unknown>/60%", "1", "4"]
    ingress = shown("ingress")
    assert ingress[0] == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert ingress[1][:3] == ["site", "<none>", "a.example.com"]
    deployments = shown("deployments", "-o", "wide")
    assert deployments[0] == [
        "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR",
    ]  # fmt: skip
    assert deployments[1][:2] == ["web", "1/1"]
    assert deployments[1][5:] == [
        "nginx",
        "nginx",
        "app=web",
    ]


def test_it_shows_nodes_namespaces_and_services_as_a_cluster_does(simulated) -> None:
    nodes = table(kubectl(simulated, "get", "nodes").stdout)
    namespaces = table(kubectl(simulated, "get", "namespaces").stdout)
    services = table(kubectl(simulated, "get", "services", "-n", "default").stdout)

    assert nodes[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[1][:3] == ["standin-node", "Ready", "control-plane"]
    assert namespaces[0] == ["NAME", "STATUS", "AGE"]
    assert ["default", "Active"] in [row[:2] for row in namespaces]
    assert services[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert services[1][:5] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]


# -- manifests: apply, create, diff, edit, explain (OpenAPI) ----------------------------------


def test_it_applies_creates_and_diffs_manifests_with_kubectls_validation(simulated) -> None:
    server, _ = simulated
    ns = namespace(simulated, "manifests")
    pod = POD.format(name="web", extra="")

    applied = kubectl(simulated, "apply", "-n", ns, "-f", "-", stdin=pod)
    again = kubectl(simulated, "apply", "-n", ns, "-f", "-", stdin=pod)
    created = kubectl(
        simulated, "create", "-n", ns, "-f", "-", stdin=POD.format(name="other", extra="")
    )
    changed = pod.replace("nginx:1.27", "nginx:1.28")
    diff = kubectl(simulated, "diff", "-n", ns, "-f", "-", stdin=changed, check=False)

    assert applied.stdout.strip() == "pod/web created"
    assert again.stdout.strip() == "pod/web unchanged"
    assert created.stdout.strip() == "pod/other created"
    assert diff.returncode == 1  # kubectl diff: 1 means "there are differences"
    assert "-  - image: nginx:1.27" in diff.stdout
    assert "+  - image: nginx:1.28" in diff.stdout
    stored = server.get("v1", "Pod", "web", ns)
    assert stored is not None
    assert stored["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_it_refuses_a_misspelt_field_as_the_real_server_does(simulated) -> None:
    server, _ = simulated
    ns = namespace(simulated, "typo")
    typo = POD.format(name="typo", extra="imagePullPolice: Always")

    refused = kubectl(simulated, "apply", "-n", ns, "-f", "-", stdin=typo, check=False)
    warned = kubectl(simulated, "apply", "--validate=warn", "-n", ns, "-f", "-", stdin=typo)

    assert refused.returncode == 1
    assert (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].imagePullPolice"'
    ) in refused.stderr
    assert 'Warning: unknown field "spec.containers[0].imagePullPolice"' in warned.stderr
    stored = server.get("v1", "Pod", "typo", ns)
    assert stored is not None
    assert "imagePullPolice" not in stored["spec"]["containers"][0]


def test_it_edits_an_object_in_the_editor(simulated, tmp_path: Path) -> None:
    server, _ = simulated
    ns = namespace(simulated, "edit")
    kubectl(simulated, "create", "configmap", "settings", "--from-literal=colour=blue", "-n", ns)
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/colour: blue/colour: green/' \"$1\"\n")
    editor.chmod(0o755)

    edited = kubectl(simulated, "edit", "configmap", "settings", "-n", ns,
                     env={"EDITOR": str(editor), "KUBE_EDITOR": str(editor)})  # fmt: skip

    assert edited.stdout.strip() == "configmap/settings edited"
    stored = server.get("v1", "ConfigMap", "settings", ns)
    assert stored is not None
    assert stored["data"] == {"colour": "green"}


def test_it_explains_fields_from_the_openapi_documents(simulated) -> None:
    explained = kubectl(simulated, "explain", "pod.spec.containers").stdout
    deep = kubectl(simulated, "explain", "deployment.spec.strategy.type").stdout

    assert "KIND:       Pod" in explained
    assert "FIELD: containers <[]Container>" in explained
    assert "List of containers belonging to the pod." in explained
    assert re.search(r"imagePullPolicy\s+<string>", explained)
    assert "GROUP:      apps" in deep
    assert "FIELD: type <string>" in deep


# -- the imperative commands (protobuf bodies) ------------------------------------------------


def test_it_creates_each_kind_the_imperative_commands_make(simulated) -> None:
    server, _ = simulated
    ns = namespace(simulated, "imperative")
    rbac = "rbac.authorization.k8s.io"
    commands = [
        ("create deployment web --image=nginx --replicas=2", "deployment.apps/web created"),
        ("create configmap cfg --from-literal=a=1", "configmap/cfg created"),
        ("create secret generic pw --from-literal=password=s3cret", "secret/pw created"),
        ("create service clusterip web --tcp=80:8080", "service/web created"),
        ("create job once --image=busybox", "job.batch/once created"),
        ("create cronjob tick --image=busybox --schedule=@hourly", "cronjob.batch/tick created"),
        ("create serviceaccount bot", "serviceaccount/bot created"),
        ("create role reader --verb=get,list --resource=pods", f"role.{rbac}/reader created"),
        (f"create rolebinding bot-reads --role=reader --serviceaccount={ns}:bot",
         f"rolebinding.{rbac}/bot-reads created"),
        ("create ingress site --rule=a.example.com/*=web:80",
         "ingress.networking.k8s.io/site created"),
    ]  # fmt: skip
    for command, said in commands:
        assert kubectl(simulated, *command.split(), "-n", ns).stdout.strip() == said

    secret = table(kubectl(simulated, "get", "secret", "pw", "-n", ns).stdout)
    binding = table(kubectl(simulated, "get", "rolebinding", "-o", "wide", "-n", ns).stdout)
    token = kubectl(simulated, "create", "token", "bot", "-n", ns).stdout.strip()
    can = kubectl(simulated, "auth", "can-i", "create", "pods", "-n", ns)

    assert secret[1][:3] == ["pw", "Opaque", "1"]
    assert binding[1][:2] == ["bot-reads", "Role/reader"]
    assert binding[1][-1] == f"{ns}:bot"
    assert token.count(".") == 2
    assert server.tokens[token] == (ns, "bot")
    assert can.stdout.strip() == "yes"
    deployment = server.get("apps/v1", "Deployment", "web", ns)
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    rule = server.get("networking.k8s.io/v1", "Ingress", "site", ns)
    assert rule is not None
    backend = rule["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "web", "port": {"number": 80}}}


def test_it_creates_a_namespace_imperatively(simulated) -> None:
    done = kubectl(simulated, "create", "namespace", "made-by-kubectl")
    shown = table(kubectl(simulated, "get", "namespace", "made-by-kubectl").stdout)

    assert done.stdout.strip() == "namespace/made-by-kubectl created"
    assert shown[1][:2] == ["made-by-kubectl", "Active"]


def test_it_exposes_scales_sets_images_and_autoscales_a_deployment(simulated) -> None:
    server, _ = simulated
    ns = namespace(simulated, "operate")
    kubectl(simulated, "create", "deployment", "web", "--image=nginx:1.26", "--port=80", "-n", ns)

    exposed = kubectl(simulated, "expose", "deployment", "web", "--type=NodePort", "-n", ns)
    scaled = kubectl(simulated, "scale", "deployment", "web", "--replicas=3", "-n", ns)
    imaged = kubectl(simulated, "set", "image", "deployment/web", "nginx=nginx:1.27", "-n", ns)
    scaled_out = kubectl(simulated, "autoscale", "deployment", "web", "--min=2", "--max=5",
                         "--cpu-percent=70", "-n", ns)  # fmt: skip

    assert exposed.stdout.strip() == "service/web exposed"
    assert scaled.stdout.strip() == "deployment.apps/web scaled"
    assert imaged.stdout.strip() == "deployment.apps/web image updated"
    assert scaled_out.stdout.strip() == "horizontalpodautoscaler.autoscaling/web autoscaled"
    service = table(kubectl(simulated, "get", "service", "web", "-n", ns).stdout)[1]
    assert service[1] == "NodePort"
    assert re.fullmatch(r"10\.(9[6-9]|10\d|11[01])\.\d+\.\d+", service[2])
    assert re.fullmatch(r"80:3\d{4}/TCP", service[4])
    deployment = server.get("apps/v1", "Deployment", "web", ns)
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    hpa = server.get("autoscaling/v2", "HorizontalPodAutoscaler", "web", ns)
    assert hpa is not None
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization", "averageUtilization": 70
    }  # fmt: skip


def test_it_drains_the_node_by_evicting_its_pods(simulated) -> None:
    server, _ = simulated
    ns = namespace(simulated, "drain")
    kubectl(simulated, "run", "web", "--image=nginx", "-n", ns)
    try:
        drained = kubectl(simulated, "drain", "standin-node", "--ignore-daemonsets",
                          "--delete-emptydir-data", "--force", "--timeout=30s")  # fmt: skip
        nodes = table(kubectl(simulated, "get", "nodes").stdout)
    finally:
        kubectl(simulated, "uncordon", "standin-node")

    assert "node/standin-node cordoned" in drained.stdout
    assert "pod/web evicted" in drained.stdout
    assert "node/standin-node drained" in drained.stdout
    assert nodes[1][1] == "Ready,SchedulingDisabled"
    assert server.get("v1", "Pod", "web", ns) is None


# -- what the cluster does by itself: Day II through kubectl -----------------------------------


def test_it_rolls_out_scales_updates_and_undoes_a_deployment(simulated) -> None:
    ns = namespace(simulated, "rollout")
    run = lambda *args: kubectl(simulated, *args, "-n", ns).stdout  # noqa: E731

    created = run("create", "deployment", "web", "--image=nginx:1.27")
    status = run("rollout", "status", "deployment/web", "--timeout=20s")
    scaled = run("scale", "deployment", "web", "--replicas=3")
    ready = table(run("get", "deployment", "web"))[1]
    run("set", "image", "deployment/web", "nginx=nginx:1.28")
    updated = run("rollout", "status", "deployment/web", "--timeout=20s")
    history = run("rollout", "history", "deployment/web")
    sets = table(run("get", "rs", "-l", "app=web"))
    undone = run("rollout", "undo", "deployment/web")
    kubectl(simulated, "rollout", "status", "deployment/web", "--timeout=20s", "-n", ns)
    image = run(
        "get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    )

    assert created.strip() == "deployment.apps/web created"
    assert status.strip() == 'deployment "web" successfully rolled out'
    assert scaled.strip() == "deployment.apps/web scaled"
    assert ready[:4] == ["web", "3/3", "3", "3"]
    assert updated.strip().endswith('deployment "web" successfully rolled out')
    assert table(history)[1:] == [["REVISION", "CHANGE-CAUSE"], ["1", "<none>"], ["2", "<none>"]]
    assert sorted(row[1:4] for row in sets[1:]) == [["0", "0", "0"], ["3", "3", "3"]]
    assert undone.strip() == "deployment.apps/web rolled back"
    assert image == "nginx:1.27"
    assert table(run("rollout", "history", "deployment/web"))[-1] == ["3", "<none>"]


def test_it_shows_a_broken_image_failing_to_pull_in_get_and_describe(simulated) -> None:
    ns = namespace(simulated, "broken")
    kubectl(simulated, "run", "broken", "--image=nginx:0.0.0-does-not-exist", "-n", ns)

    row = table(kubectl(simulated, "get", "pod", "broken", "-n", ns).stdout)[1]
    described = kubectl(simulated, "describe", "pod", "broken", "-n", ns).stdout
    logs = kubectl(simulated, "logs", "broken", "-n", ns, check=False)

    assert row[1:3] == ["0/1", "ImagePullBackOff"]
    assert "Reason:       ImagePullBackOff" in described
    assert re.search(r"Warning\s+Failed\s+\S+\s+kubelet\s+Failed to pull image "
                     r'"nginx:0.0.0-does-not-exist": .*: not found', described)  # fmt: skip
    assert re.search(r"Warning\s+Failed\s+\S+\s+kubelet\s+Error: ErrImagePull", described)
    assert re.search(r"Normal\s+BackOff\s+\S+\s+kubelet\s+Back-off pulling image", described)
    assert logs.stderr.strip() == (
        'Error from server (BadRequest): container "broken" in pod "broken" is waiting to '
        "start: trying and failing to pull image"
    )


def test_it_lists_the_ready_pods_as_a_services_endpoints_and_answers_from_a_client(
    simulated,
) -> None:
    ns = namespace(simulated, "endpoints")
    kubectl(simulated, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2",
            "-n", ns)  # fmt: skip
    kubectl(simulated, "expose", "deployment", "web", "--port=8080", "--target-port=80", "-n", ns)

    ips = kubectl(simulated, "get", "pods", "-l", "app=web", "-n", ns, "-o",
                  "jsonpath={.items[*].status.podIP}").stdout.split()  # fmt: skip
    listed = kubectl(simulated, "get", "endpoints", "web", "-n", ns)
    endpoints = table(listed.stdout)[1]
    slices = table(kubectl(simulated, "get", "endpointslices", "-n", ns, "-l",
                           "kubernetes.io/service-name=web").stdout)  # fmt: skip
    answer = kubectl(
        simulated,
        "run",
        "client",
        "--rm",
        "-i",
        "--restart=Never",
        "--image=busybox:1.37",
        "-n",
        ns,
        "--",
        "wget",
        "-qO-",
        "http://web:8080",
    )
    missing = kubectl(simulated, "run", "lost", "--rm", "-i", "--restart=Never",
                      "--image=busybox:1.37", "-n", ns, "--", "wget", "-qO-", "http://nope",
                      check=False)  # fmt: skip

    assert endpoints[1] == ",".join(f"{ip}:80" for ip in sorted(ips, key=ip_key))
    assert (
        "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
        in listed.stderr
    )
    assert slices[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert slices[1][1:3] == ["IPv4", "80"]
    assert "<title>Welcome to nginx!</title>" in answer.stdout
    assert 'pod "client" deleted' in answer.stdout
    assert "wget: bad address 'nope'" in missing.stdout
    assert missing.returncode == 1


def ip_key(ip: str) -> list[int]:
    return [int(part) for part in ip.split(".")]


def test_it_completes_a_job_and_a_cronjob_creates_one_when_due(simulated) -> None:
    server, _ = simulated
    ns = namespace(simulated, "jobs")
    kubectl(simulated, "create", "job", "once", "--image=busybox:1.37", "-n", ns, "--", "echo",
            "hello from the job")  # fmt: skip
    kubectl(simulated, "create", "cronjob", "tick", "--image=busybox:1.37",
            "--schedule=*/1 * * * *", "-n", ns, "--", "date")  # fmt: skip

    waited = kubectl(simulated, "wait", "--for=condition=complete", "job/once", "--timeout=20s",
                     "-n", ns)  # fmt: skip
    jobs = table(kubectl(simulated, "get", "jobs", "-n", ns).stdout)
    log = kubectl(simulated, "logs", "job/once", "-n", ns).stdout

    def three_minutes_ago(obj: dict) -> None:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 180))
        obj["metadata"]["creationTimestamp"] = when

    server.store.mutate(known("batch", "v1", "cronjobs"), ns, "tick", three_minutes_ago)
    fired = table(kubectl(simulated, "get", "jobs", "-n", ns).stdout)
    cron = table(kubectl(simulated, "get", "cronjob", "tick", "-n", ns).stdout)[1]

    assert waited.stdout.strip() == "job.batch/once condition met"
    assert jobs[1][:3] == ["once", "Complete", "1/1"]
    assert log == "hello from the job\n"
    assert [row[0] for row in fired[1:]] == ["once", f"tick-{int(time.time()) // 60}"]
    assert cron[5] != "<none>"  # LAST SCHEDULE


def test_it_lists_the_events_of_what_happened(simulated) -> None:
    ns = namespace(simulated, "events")
    kubectl(simulated, "create", "deployment", "web", "--image=nginx:1.27", "-n", ns)

    rows = table(kubectl(simulated, "get", "events", "-n", ns).stdout)
    described = kubectl(simulated, "describe", "deployment", "web", "-n", ns).stdout

    seen = {(row[2], row[3].split("/")[0]) for row in rows[1:]}
    assert {("ScalingReplicaSet", "deployment"), ("SuccessfulCreate", "replicaset"),
            ("Scheduled", "pod"), ("Pulled", "pod"), ("Created", "pod"),
            ("Started", "pod")} <= seen  # fmt: skip
    assert re.search(r"Normal\s+ScalingReplicaSet\s+\S+\s+deployment-controller\s+Scaled up "
                     r"replica set web-\w+ from 0 to 1", described)  # fmt: skip


def test_it_refuses_a_pod_beyond_the_quota_and_a_root_nginx_under_restricted(simulated) -> None:
    ns = namespace(simulated, "limits")
    kubectl(simulated, "create", "quota", "lab", "--hard=limits.cpu=500m,pods=5", "-n", ns)
    limits = """\
apiVersion: v1
kind: LimitRange
metadata: {name: lab}
spec:
  limits:
  - type: Container
    default: {cpu: 250m, memory: 256Mi}
    defaultRequest: {cpu: 100m, memory: 128Mi}
"""
    kubectl(simulated, "apply", "-f", "-", "-n", ns, stdin=limits)
    for name in ("a", "b"):
        kubectl(simulated, "run", name, "--image=nginx:1.27", "-n", ns)
    refused = kubectl(simulated, "run", "c", "--image=nginx:1.27", "-n", ns, check=False)
    quota = kubectl(simulated, "describe", "quota", "lab", "-n", ns).stdout
    kubectl(simulated, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    root = kubectl(simulated, "run", "root", "--image=nginx:1.27", "-n", ns, check=False)

    assert refused.stderr.strip() == (
        'Error from server (Forbidden): pods "c" is forbidden: exceeded quota: lab, requested: '
        "limits.cpu=250m, used: limits.cpu=500m, limited: limits.cpu=500m"
    )
    assert re.search(r"limits.cpu\s+500m\s+500m", quota)
    assert re.search(r"pods\s+2\s+5", quota)
    assert root.stderr.strip() == (
        'Error from server (Forbidden): pods "root" is forbidden: violates PodSecurity '
        '"restricted:latest": allowPrivilegeEscalation != false (container "root" must set '
        "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "
        '"root" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod '
        'or container "root" must set securityContext.runAsNonRoot=true), seccompProfile (pod '
        'or container "root" must set securityContext.seccompProfile.type to "RuntimeDefault" '
        'or "Localhost")'
    )


def test_it_execs_into_a_pod_that_mounts_a_configmap(simulated) -> None:
    ns = namespace(simulated, "exec")
    kubectl(simulated, "create", "configmap", "settings", "--from-literal=colour=blue", "-n", ns)
    pod = """\
apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  containers:
  - name: app
    image: nginx:1.27
    volumeMounts: [{name: settings, mountPath: /etc/settings}]
  volumes:
  - {name: settings, configMap: {name: settings}}
"""
    kubectl(simulated, "apply", "-f", "-", "-n", ns, stdin=pod)

    colour = kubectl(simulated, "exec", "app", "-n", ns, "--", "cat", "/etc/settings/colour")
    version = kubectl(simulated, "exec", "app", "-n", ns, "--", "nginx", "-v")
    listed = kubectl(simulated, "exec", "app", "-n", ns, "--", "ls", "/etc/settings")
    shell = kubectl(simulated, "exec", "-i", "app", "-n", ns, "--", "sh",
                    stdin="hostname\necho $HOSTNAME\nexit 7\n", check=False)  # fmt: skip
    other = kubectl(simulated, "exec", "app", "-n", ns, "--", "htop", check=False)

    assert colour.stdout == "blue"
    assert version.stderr.endswith("nginx version: nginx/1.27.5\n")
    assert listed.stdout == "colour\n"
    assert shell.stdout == "app\napp\n"
    assert shell.returncode == 7
    assert other.stderr.startswith(
        "simulated cluster: htop does not run here (no containers run in the simulated cluster)"
    )
    assert other.returncode == 127


def test_it_attaches_to_a_shell_pod_and_removes_it_with_rm(simulated) -> None:
    ns = namespace(simulated, "attach")

    done = kubectl(simulated, "run", "shell", "--rm", "-i", "--restart=Never",
                   "--image=busybox:1.37", "-n", ns, "--", "sh",
                   stdin="echo hello from $(hostname)\nexit 3\n", check=False)  # fmt: skip

    assert "hello from shell" in done.stdout
    assert 'pod "shell" deleted' in done.stdout
    assert "pod attach/shell terminated (Error)" in done.stderr
    assert done.returncode == 3
    assert table(kubectl(simulated, "get", "pods", "-n", ns, check=False).stderr) == [
        [f"No resources found in {ns} namespace."]
    ]


def test_it_refuses_port_forward_saying_why(simulated) -> None:
    ns = namespace(simulated, "forward")
    kubectl(simulated, "run", "web", "--image=nginx:1.27", "-n", ns)

    refused = kubectl(simulated, "port-forward", "pod/web", "8080:80", "-n", ns, check=False)

    assert refused.returncode == 1
    assert refused.stderr.strip().endswith(
        "error: error upgrading connection: the simulated cluster cannot forward ports: no "
        "container runs in it, so nothing listens on a port of pod web. Reach the pod from "
        "another pod instead, e.g. kubectl run client --rm -it --restart=Never "
        "--image=busybox:1.37 -- wget -qO- http://"
        + table(kubectl(simulated, "get", "pod", "web", "-o", "wide", "-n", ns).stdout)[1][5]
        + ":80"
    )


def test_it_pauses_resumes_and_restarts_a_rollout(simulated) -> None:
    ns = namespace(simulated, "pause")
    run = lambda *args: kubectl(simulated, *args, "-n", ns).stdout  # noqa: E731
    kubectl(simulated, "create", "deployment", "web", "--image=nginx:1.27", "-n", ns)

    paused = run("rollout", "pause", "deployment/web")
    run("set", "image", "deployment/web", "nginx=nginx:1.28")
    while_paused = table(run("get", "rs", "-l", "app=web"))
    described = run("describe", "deployment", "web")
    resumed = run("rollout", "resume", "deployment/web")
    kubectl(simulated, "rollout", "status", "deployment/web", "--timeout=20s", "-n", ns)
    restarted = run("rollout", "restart", "deployment/web")
    kubectl(simulated, "rollout", "status", "deployment/web", "--timeout=20s", "-n", ns)
    sets = table(run("get", "rs", "-l", "app=web"))

    assert paused.strip() == "deployment.apps/web paused"
    assert len(while_paused) == 2  # the template changed, but no new ReplicaSet while paused
    assert re.search(r"Progressing\s+Unknown\s+DeploymentPaused", described)
    assert resumed.strip() == "deployment.apps/web resumed"
    assert restarted.strip() == "deployment.apps/web restarted"
    assert sorted(row[1] for row in sets[1:]) == ["0", "0", "1"]  # 1.27, 1.28, restarted


def test_it_follows_the_log_of_a_loop(simulated) -> None:
    _, folder = simulated
    ns = namespace(simulated, "follow")
    kubectl(simulated, "run", "ticker", "--image=busybox:1.37", "-n", ns, "--", "sh", "-c",
            "while true; do echo tick; sleep 1; done")  # fmt: skip
    following = subprocess.Popen(
        [str(KUBECTL), f"--kubeconfig={folder / 'kubeconfig'}", f"--cache-dir={folder / 'cache'}",
         "logs", "-f", "ticker", "-n", ns],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert following.stdout is not None
        started = time.monotonic()
        lines = [following.stdout.readline(), following.stdout.readline()]
        waited = time.monotonic() - started
    finally:
        following.terminate()
        following.wait(10)

    assert lines == ["tick\n", "tick\n"]
    assert 0.5 < waited < 5  # the second round comes a second after the first


def test_it_streams_pod_changes_to_kubectls_protobuf_watch_as_they_happen(tmp_path: Path) -> None:
    # At a pace above 0 kubectl run watches the pod start, in protobuf.
    with KubeStandIn(pace=0.2).start() as server:
        config = tmp_path / "kubeconfig"
        config.write_text(yaml.safe_dump(server.kubeconfig()))
        done = subprocess.run(
            [str(KUBECTL), f"--kubeconfig={config}", "run", "client", "--rm", "-i",
             "--restart=Never", "--image=busybox:1.37", "--", "echo", "hello"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "hello" in done.stdout
    assert "unable to decode" not in done.stderr
