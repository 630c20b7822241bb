"""Courseware's receivers of other apps' signals.

A lab's state, and whether its trainee's terminal is connected, reach the instructors'
dashboards from here: ``labs`` records provisioning step by step on the lab's row, and
terminal connections in the cache, and knows nothing of cohorts or dashboards (it may not
import ``courseware``). So courseware listens to the row being saved and publishes through
``courseware.events`` once the save has committed (a rolled-back state was never true),
and to ``labs.terminal.activity.connection_changed``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from courseware import events
from courseware.models import Enrolment
from labs.models import Lab
from labs.terminal import activity


@receiver(post_save, sender=Lab, dispatch_uid="courseware.publish_lab_state")
def publish_lab_state(sender: type[Lab], instance: Lab, **kwargs: Any) -> None:
    # Provisioning loads the lab with its enrolment; elsewhere this costs one query.
    if Lab.enrolment.is_cached(instance):
        cohort_id = instance.enrolment.cohort_id
    else:
        cohort_id = (
            Enrolment.objects.filter(pk=instance.enrolment_id)
            .values_list("cohort_id", flat=True)
            .first()
        )
    if cohort_id is None:
        return
    transaction.on_commit(lambda: events.publish_lab(instance, cohort_id), robust=True)


@receiver(activity.connection_changed, dispatch_uid="courseware.publish_terminal_state")
async def publish_terminal_state(sender: object, lab_id: int, **kwargs: Any) -> None:
    await events.publish_terminal(lab_id)
