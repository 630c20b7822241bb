"""A lab row that is deleted takes its namespace with it.

Lab rows go when their enrolment is deleted (and with it when a cohort or a user is):
Django deletes them by cascade, from the admin or from anywhere else. Without this the
namespace, the trainee's work and their token would stay on the cluster with nothing in
Lotse pointing at them. The deletion of the namespace is queued once the deletion of the
row has committed, and names the cluster, the namespace and its uid, since the row is gone.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from labs.models import Lab


@receiver(post_delete, sender=Lab, dispatch_uid="labs.remove_namespace_of_deleted_lab")
def remove_namespace_of_deleted_lab(sender: type[Lab], instance: Lab, **kwargs: Any) -> None:
    if instance.state == Lab.State.DELETED:
        return  # torn down already: nothing of it is left on the cluster
    from labs.tasks import remove_lab_namespace

    cluster_id, namespace, uid = instance.cluster_id, instance.namespace, instance.namespace_uid
    transaction.on_commit(lambda: remove_lab_namespace.delay(cluster_id, namespace, uid))
