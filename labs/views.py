"""Lab pages for trainees: the kubeconfig of their own lab, for their own laptop."""

from __future__ import annotations

import yaml
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse

from courseware.access import cohort_view
from courseware.models import Cohort
from labs import manifests
from labs.kube import ClusterError, Kube
from labs.models import Lab
from labs.provisioning import lab_spec


@cohort_view
def kubeconfig(request: HttpRequest, cohort: Cohort) -> HttpResponse:
    """A kubeconfig with a short-lived token of the trainee's ServiceAccount, scoped to the
    trainee's namespace. Only the trainee whose lab it is gets it, and only when it is ready."""
    lab = (
        Lab.objects.select_related("cluster", "enrolment__cohort", "enrolment__trainee")
        .filter(enrolment__cohort=cohort, enrolment__trainee=request.user)
        .exclude(enrolment__state="removed")
        .first()
    )
    if lab is None or lab.state != Lab.State.READY:
        raise Http404("Your lab is not ready yet.")
    try:
        kube = Kube.for_cluster(lab.cluster)
        token = kube.create_token(
            lab.namespace, manifests.TRAINEE, settings.LAB_KUBECONFIG_TOKEN_SECONDS
        )
        server, ca_data = kube.server_address()
    except ClusterError as exc:
        return HttpResponse(
            f"The cluster cannot issue a token right now: {exc.message}",
            status=503,
            content_type="text/plain",
        )
    config = manifests.trainee_kubeconfig(
        lab_spec(lab), server=lab.cluster.public_server or server, ca_data=ca_data, token=token
    )
    response = HttpResponse(
        yaml.safe_dump(config, sort_keys=False), content_type="application/yaml"
    )
    response["Content-Disposition"] = f'attachment; filename="{lab.namespace}.kubeconfig"'
    response["Cache-Control"] = "no-store"
    return response
