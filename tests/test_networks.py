"""Where a lab's pods may connect: destinations as admins write them, and the API server's
addresses as provisioning finds them on the simulated cluster."""

from __future__ import annotations

import pytest

from courseware.models import Cohort
from labs import manifests, provisioning
from labs.kube import ClusterError
from labs.models import Cluster, Lab
from labs.networks import BadDestination, Destination, parse_destination, parse_destinations
from simcluster import KubeStandIn
from tests.factories import enrol, kube_for


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("10.0.0.0/8", Destination("10.0.0.0/8")),
        (" 203.0.113.0/24:443 ", Destination("203.0.113.0/24", 443)),
        ("192.0.2.7", Destination("192.0.2.7/32")),
        ("192.0.2.7:6443", Destination("192.0.2.7/32", 6443)),
        ("2001:db8::/32", Destination("2001:db8::/32")),
        ("2001:db8::/32:443", Destination("2001:db8::/32", 443)),
        ("2001:db8::1", Destination("2001:db8::1/128")),
    ],
)
def test_it_reads_blocks_addresses_and_ports(entry: str, expected: Destination) -> None:
    assert parse_destination(entry) == expected


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("10.0.0.1/8", "'10.0.0.1/8': 10.0.0.1/8 has host bits set; the block is written "
                       "10.0.0.0/8"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or CIDR block"),
        ("example.com", "'example.com' is not an IP address or CIDR block"),
        ("10.0.0.0/8:0", "'10.0.0.0/8:0': the port must be a number from 1 to 65535"),
        ("10.0.0.0/8:https", "'10.0.0.0/8:https': the port must be a number from 1 to 65535"),
        (
            "169.254.169.254/32",
            "'169.254.169.254/32' is the cloud metadata service, which labs must never reach",
        ),
    ],
)  # fmt: skip
def test_it_names_what_is_wrong_with_an_entry(entry: str, message: str) -> None:
    with pytest.raises(BadDestination) as caught:
        parse_destination(entry)

    assert str(caught.value) == message


def test_it_names_every_bad_entry_of_a_list_at_once() -> None:
    with pytest.raises(BadDestination) as caught:
        parse_destinations("10.0.0.0/8, nonsense,192.0.2.0/24:99999,")

    assert str(caught.value) == (
        "'nonsense' is not an IP address or CIDR block; "
        "'192.0.2.0/24:99999': the port must be a number from 1 to 65535"
    )
    assert parse_destinations(" , ") == []


@pytest.mark.parametrize(
    ("cidr", "carved"),
    [
        ("0.0.0.0/0", ["169.254.169.254/32"]),
        ("169.254.0.0/16", ["169.254.169.254/32"]),
        ("10.0.0.0/8", None),
        ("::/0", ["fd00:ec2::254/128"]),
        ("2001:db8::/32", None),
    ],
)
def test_it_carves_the_metadata_service_out_of_wider_blocks(
    cidr: str, carved: list[str] | None
) -> None:
    block = Destination(cidr).peer()["ipBlock"]

    assert block.get("except") == carved


# -- the API server's addresses, as provisioning finds them ---------------------------------

on_the_cluster = pytest.mark.django_db


@pytest.fixture
def guarded_lab(cohort: Cohort, cluster: Cluster) -> Lab:
    cohort.cluster = cluster
    cohort.save()
    (enrolment,) = enrol(cohort, "nora_net")
    return provisioning.ensure_lab(enrolment)


@on_the_cluster
def test_it_finds_the_api_server_behind_the_kubernetes_service(
    standin: KubeStandIn, cluster: Cluster
) -> None:
    found = provisioning.api_server_of(cluster, kube_for(cluster))

    # What the simulated cluster publishes, as kubeadm does: the node's address, port 6443.
    assert found == (Destination("172.18.0.2/32", 6443),)


@on_the_cluster
def test_it_reads_every_address_of_every_slice(standin: KubeStandIn, cluster: Cluster) -> None:
    standin.put({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes-v6", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv6",
        "endpoints": [{"addresses": ["fd00:10::2"]}, {"addresses": ["fd00:10::3"]}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
    })  # fmt: skip

    found = provisioning.api_server_of(cluster, kube_for(cluster))

    assert [str(d) for d in found] == [
        "172.18.0.2/32:6443", "fd00:10::2/128:6443", "fd00:10::3/128:6443",
    ]  # fmt: skip


@on_the_cluster
def test_it_falls_back_to_the_endpoints_without_slices(
    standin: KubeStandIn, cluster: Cluster
) -> None:
    standin.delete("discovery.k8s.io/v1", "EndpointSlice", "kubernetes", "default")

    found = provisioning.api_server_of(cluster, kube_for(cluster))

    assert found == (Destination("172.18.0.2/32", 6443),)


@on_the_cluster
def test_it_takes_the_blocks_an_admin_set_over_what_the_cluster_says(
    standin: KubeStandIn, cluster: Cluster
) -> None:
    cluster.api_server_cidrs = "10.0.0.0/24:443, 10.1.0.5"

    found = provisioning.api_server_of(cluster, kube_for(cluster))

    assert found == (Destination("10.0.0.0/24", 443), Destination("10.1.0.5/32"))


@on_the_cluster
def test_it_refuses_to_guess_where_no_address_is_published(
    standin: KubeStandIn, guarded_lab: Lab
) -> None:
    standin.delete("discovery.k8s.io/v1", "EndpointSlice", "kubernetes", "default")
    standin.delete("v1", "Endpoints", "kubernetes", "default")

    with pytest.raises(ClusterError, match="cannot tell where the API server is"):
        provisioning.provision(guarded_lab.pk, kube_for(guarded_lab.cluster))

    guarded_lab.refresh_from_db()
    assert guarded_lab.state == Lab.State.FAILED
    assert guarded_lab.step == provisioning.API_SERVER_STEP
    assert "set the cluster's API server CIDRs in the admin" in guarded_lab.last_error
    assert standin.get("v1", "Namespace", guarded_lab.namespace) is None


@on_the_cluster
def test_it_provisions_a_policy_that_opens_the_api_server_and_the_allow_list(
    standin: KubeStandIn, guarded_lab: Lab
) -> None:
    cluster = guarded_lab.cluster
    cluster.egress_allow = "203.0.113.0/24:443"
    cluster.save()

    provisioning.provision(guarded_lab.pk, kube_for(cluster))

    stored = standin.get(
        "networking.k8s.io/v1", "NetworkPolicy", "lab-isolation", guarded_lab.namespace
    )
    assert stored["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert stored["spec"]["egress"][2:] == [
        {
            "to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}],
            "ports": [{"protocol": "TCP", "port": 6443}],
        },
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
            "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "UDP", "port": 443}],
        },
    ]


@on_the_cluster
def test_it_leaves_out_the_nodes_rule_for_a_cluster_that_hides_nodes(
    standin: KubeStandIn, guarded_lab: Lab
) -> None:
    cluster = guarded_lab.cluster
    cluster.trainees_see_nodes = False
    cluster.save()

    provisioning.provision(guarded_lab.pk, kube_for(cluster))

    name = manifests.cluster_role_name(guarded_lab.namespace)
    rules = standin.get("rbac.authorization.k8s.io/v1", "ClusterRole", name)["rules"]
    assert [rule["resources"] for rule in rules] == [["namespaces"]]
