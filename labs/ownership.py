"""What Lotse may touch on a cluster: the objects labelled with this installation's key, the
Cluster row they were made for and, for a lab's objects, the lab's enrolment.

A name proves nothing: another Lotse installation on the same cluster, another Cluster row
pointing at the same API server, or a person may hold an object of a lab's name. So
provisioning adopts an existing namespace or cluster-scoped object only when its labels say
it is this lab's, and every delete names the uid of the object that was judged (the API
server then refuses to delete another one that took the name in between).
"""

from __future__ import annotations

from typing import Any

from labs.kube import ClusterError
from labs.manifests import (
    CLUSTER_LABEL,
    ENROLMENT_LABEL,
    INSTALLATION_LABEL,
    MANAGED_BY,
    LabSpec,
)


def selector(installation: str, cluster_id: int) -> str:
    """The label selector of everything ``installation`` made for one Cluster row."""
    return f"{MANAGED_BY}=lotse,{INSTALLATION_LABEL}={installation},{CLUSTER_LABEL}={cluster_id}"


def made_here(obj: dict[str, Any], installation: str, cluster_id: int) -> bool:
    """Whether ``obj`` carries the labels of ``installation`` and that Cluster row."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return (
        labels.get(MANAGED_BY) == "lotse"
        and labels.get(INSTALLATION_LABEL) == installation
        and labels.get(CLUSTER_LABEL) == str(cluster_id)
    )


def foreign(obj: dict[str, Any], spec: LabSpec) -> str | None:
    """Why ``obj`` is not the lab's, in words for an admin; None when its labels say it is."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    installation = labels.get(INSTALLATION_LABEL)
    if labels.get(MANAGED_BY) != "lotse":
        return "it was not created by Lotse"
    if installation is None:
        return (
            f"it is labelled {MANAGED_BY}=lotse but carries no {INSTALLATION_LABEL} key, so "
            "it may be another Lotse installation's"
        )
    if installation != spec.installation:
        return f"it belongs to another Lotse installation ({INSTALLATION_LABEL}={installation})"
    cluster = labels.get(CLUSTER_LABEL)
    if cluster != str(spec.cluster_id):
        return (
            f"it belongs to another cluster entry of this installation ({CLUSTER_LABEL}={cluster})"
        )
    enrolment = labels.get(ENROLMENT_LABEL)
    if enrolment != str(spec.enrolment_id):
        return f"it belongs to another lab of this installation ({ENROLMENT_LABEL}={enrolment})"
    return None


def claim(existing: dict[str, Any], spec: LabSpec) -> None:
    """Adopt ``existing``, an object of one of the lab's names that is already there, or
    refuse with a ``ClusterError`` that retrying cannot fix."""
    meta = existing["metadata"]
    what = f"{existing.get('kind') or 'object'} {meta['name']}"
    why = foreign(existing, spec)
    if why is not None:
        raise ClusterError(
            f"{what} already exists and is not this lab's ({why}); nothing was changed: "
            "delete it or rename the cohort",
            status=409,
        )
    if meta.get("deletionTimestamp"):
        raise ClusterError(
            f"{what} is still being deleted; try again once it is gone",
            status=409,
            retryable=True,
        )
