"""Clusters and the labs on them: one lab (a namespace and what it holds) per enrolment."""

from __future__ import annotations

import secrets as random
from functools import cache

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from labs import secrets
from labs.networks import BadDestination, Destination, parse_destinations

DEFAULT_TOOLBOX_IMAGE = "bitnami/kubectl:1.34"


def _new_installation_key() -> str:
    return random.token_hex(6)


class Installation(models.Model):
    """This Lotse installation, as its clusters know it: every object Lotse creates carries
    ``key`` in a label, so that two installations sharing a cluster (or a namespace that
    only looks like Lotse's) are never mistaken for each other. One row, made by the first
    migration run against the database."""

    key = models.CharField(max_length=12, unique=True, default=_new_installation_key)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


@cache
def installation_key() -> str:
    """The key of this installation (read once per process; it never changes)."""
    installation = Installation.objects.order_by("pk").first()
    if installation is None:
        installation = Installation.objects.create()
    return installation.key


def validate_destinations(text: str) -> None:
    """Every entry a CIDR block (or address), optionally with :port; all problems named."""
    try:
        parse_destinations(text)
    except BadDestination as exc:
        raise ValidationError(str(exc)) from None


class Cluster(models.Model):
    class Access(models.TextChoices):
        KUBECONFIG = "kubeconfig", "Kubeconfig (a context of it)"
        IN_CLUSTER = "in-cluster", "In-cluster service account (Lotse runs in this cluster)"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    access = models.CharField(max_length=16, choices=Access.choices, default=Access.KUBECONFIG)
    # Encrypted at rest (labs.secrets); never shown back, only its fingerprint.
    kubeconfig_encrypted = models.TextField(blank=True, editable=False)
    kubeconfig_fingerprint = models.CharField(max_length=24, blank=True, editable=False)
    context = models.CharField(
        max_length=200, blank=True, help_text="Context of the kubeconfig; empty: its current one."
    )
    toolbox_image = models.CharField(
        max_length=300,
        default=DEFAULT_TOOLBOX_IMAGE,
        help_text="Image of each trainee's toolbox pod: kubectl and a shell, runs as non-root.",
    )
    public_server = models.URLField(
        blank=True,
        help_text="The API server's address as trainees' laptops reach it, for the "
        "kubeconfigs they download; empty: the address Lotse uses.",
    )
    ingress_namespaces = models.CharField(
        max_length=300,
        default="ingress-nginx",
        blank=True,
        help_text="Comma-separated namespaces (e.g. the ingress controller's) whose pods may "
        "reach into labs; all other namespaces are shut out.",
    )
    api_server_cidrs = models.CharField(
        "API server CIDRs",
        max_length=500,
        blank=True,
        validators=[validate_destinations],
        help_text="Comma-separated CIDR blocks (each optionally :port) where lab pods reach the "
        "API server, for kubectl in the toolbox; empty: the addresses and port of the "
        "'kubernetes' EndpointSlice in the default namespace, read at each provisioning.",
    )
    egress_allow = models.CharField(
        "egress allow-list",
        max_length=1000,
        blank=True,
        validators=[validate_destinations],
        help_text="Comma-separated CIDR blocks (each optionally :port, then TCP and UDP) that "
        "lab pods may reach besides their own namespace, cluster DNS and the API server, "
        "e.g. 169.254.20.10/32:53 for NodeLocal DNSCache. Empty: nothing else.",
    )
    trainees_see_nodes = models.BooleanField(
        "trainees see nodes",
        default=True,
        help_text="Trainees may list and read the cluster's nodes (kubectl get nodes): names, "
        "addresses, labels, taints, capacity, versions, conditions and images.",
    )

    def __str__(self) -> str:
        return self.name

    @property
    def kubeconfig(self) -> str:
        return secrets.decrypt(self.kubeconfig_encrypted) if self.kubeconfig_encrypted else ""

    def set_kubeconfig(self, text: str) -> None:
        self.kubeconfig_encrypted = secrets.encrypt(text) if text else ""
        self.kubeconfig_fingerprint = secrets.fingerprint(text) if text else ""

    @property
    def ingress_namespace_list(self) -> list[str]:
        return [name.strip() for name in self.ingress_namespaces.split(",") if name.strip()]

    @property
    def api_server_destinations(self) -> list[Destination]:
        """The API server blocks an admin set (raises ``BadDestination`` if mistyped)."""
        return parse_destinations(self.api_server_cidrs)

    @property
    def egress_allow_destinations(self) -> list[Destination]:
        return parse_destinations(self.egress_allow)


class Lab(models.Model):
    """A trainee's namespace on a cluster, and how far provisioning (or teardown) got."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DELETING = "deleting", "Deleting"
        DELETED = "deleted", "Deleted"

    enrolment = models.OneToOneField(
        "courseware.Enrolment", on_delete=models.CASCADE, related_name="lab"
    )
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="labs")
    namespace = models.CharField(max_length=63, unique=True)
    # The uid of the namespace this lab created or adopted: teardown deletes only that very
    # namespace, never another one that took its name.
    namespace_uid = models.CharField(max_length=36, blank=True, editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    step = models.CharField(max_length=100, blank=True, help_text="The last step reached.")
    steps_done = models.PositiveSmallIntegerField(default=0)
    steps_total = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["namespace"]

    def __str__(self) -> str:
        return self.namespace

    @property
    def progress(self) -> int:
        """Per cent of the current run's steps done."""
        if not self.steps_total:
            return 100 if self.state in (self.State.READY, self.State.DELETED) else 0
        return round(100 * self.steps_done / self.steps_total)
