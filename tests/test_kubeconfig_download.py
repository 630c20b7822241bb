"""The kubeconfig a trainee downloads from their cohort page: their own lab's namespace and
ServiceAccount, a token of exactly the configured lifetime, bound to the lab's kubeconfig
anchor so that it dies with the lab (on removal and reset) rather than hours later."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from pytest_django.fixtures import Settings

from courseware.enrolment import remove
from courseware.models import Cohort, Enrolment
from labs import manifests, provisioning
from labs.models import Lab
from simcluster import KubeStandIn
from tests.factories import (
    People,
    client_for,
    make_cluster,
    make_user,
    put_namespace,
    token_claims,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_labs(people: People, cohort: Cohort, standin: KubeStandIn) -> dict[User, Lab]:
    """Two trainees of the same cohort, each with a ready lab."""
    cohort.cluster = make_cluster(standin)
    cohort.save()
    second = make_user("una_trainee")
    Enrolment.objects.create(cohort=cohort, trainee=second, state=Enrolment.State.ACTIVE)
    labs = {}
    for user in (people.trainee, second):
        lab = provisioning.ensure_lab(cohort.enrolments.get(trainee=user))
        provisioning.provision(lab.pk)
        lab.refresh_from_db()
        labs[user] = lab
    return labs


def download(user: User, cohort: Cohort) -> dict[str, Any]:
    response = client_for(user).get(f"/cohorts/{cohort.slug}/kubeconfig/")
    assert response.status_code == 200, response.content
    return yaml.safe_load(response.content)


def token_of(config: dict[str, Any]) -> str:
    return config["users"][0]["user"]["token"]


def anchor_uid(standin: KubeStandIn, lab: Lab) -> str | None:
    anchor = standin.get("v1", "Secret", manifests.KUBECONFIG_ANCHOR, lab.namespace)
    return anchor["metadata"]["uid"] if anchor else None


def test_it_gives_each_trainee_of_a_cohort_their_own_lab(
    cohort: Cohort, standin: KubeStandIn, ready_labs: dict[User, Lab]
) -> None:
    seen = set()
    for user, lab in ready_labs.items():
        config = download(user, cohort)

        token = token_of(config)
        claims = token_claims(token)
        assert config["contexts"][0]["context"]["namespace"] == lab.namespace
        assert claims["sub"] == f"system:serviceaccount:{lab.namespace}:{manifests.TRAINEE}"
        assert claims["kubernetes.io"]["namespace"] == lab.namespace
        assert claims["kubernetes.io"]["secret"] == {
            "name": manifests.KUBECONFIG_ANCHOR,
            "uid": anchor_uid(standin, lab),
        }
        assert standin.tokens[token] == (lab.namespace, manifests.TRAINEE)
        seen.add(lab.namespace)
    assert len(seen) == 2


def test_it_asks_for_a_token_that_lives_as_long_as_configured_or_the_lab(
    people: People,
    cohort: Cohort,
    standin: KubeStandIn,
    ready_labs: dict[User, Lab],
    settings: Settings,
) -> None:
    settings.LAB_KUBECONFIG_TOKEN_SECONDS = 5400

    claims = token_claims(token_of(download(people.trainee, cohort)))

    assert claims["exp"] - claims["iat"] == 5400
    bound = claims["kubernetes.io"]["secret"]
    assert bound["uid"] == anchor_uid(standin, ready_labs[people.trainee])


def test_it_binds_the_token_to_an_anchor_that_a_reset_deletes(
    people: People, cohort: Cohort, standin: KubeStandIn, ready_labs: dict[User, Lab]
) -> None:
    lab = ready_labs[people.trainee]
    before = token_claims(token_of(download(people.trainee, cohort)))["kubernetes.io"]["secret"]

    provisioning.reset(lab.pk)

    assert before["uid"] != anchor_uid(standin, lab)  # the token's object is gone
    after = token_claims(token_of(download(people.trainee, cohort)))["kubernetes.io"]["secret"]
    assert after["uid"] == anchor_uid(standin, lab)


def test_it_deletes_the_anchor_when_the_trainee_is_removed(
    people: People,
    cohort: Cohort,
    standin: KubeStandIn,
    ready_labs: dict[User, Lab],
    django_capture_on_commit_callbacks: Any,
) -> None:
    lab = ready_labs[people.trainee]
    claims = token_claims(token_of(download(people.trainee, cohort)))
    assert claims["kubernetes.io"]["secret"]["uid"] == anchor_uid(standin, lab)

    with django_capture_on_commit_callbacks(execute=True):
        remove(cohort.enrolments.get(trainee=people.trainee))

    assert anchor_uid(standin, lab) is None
    response = client_for(people.trainee).get(f"/cohorts/{cohort.slug}/kubeconfig/")
    assert response.status_code == 403  # no longer in the cohort


def test_it_makes_a_new_anchor_when_the_trainee_deleted_theirs(
    people: People, cohort: Cohort, standin: KubeStandIn, ready_labs: dict[User, Lab]
) -> None:
    lab = ready_labs[people.trainee]
    standin.delete("v1", "Secret", manifests.KUBECONFIG_ANCHOR, lab.namespace)

    claims = token_claims(token_of(download(people.trainee, cohort)))

    assert claims["kubernetes.io"]["secret"]["uid"] == anchor_uid(standin, lab)


def test_it_issues_no_token_in_a_namespace_that_is_not_the_labs(
    people: People, cohort: Cohort, standin: KubeStandIn, ready_labs: dict[User, Lab]
) -> None:
    lab = ready_labs[people.trainee]
    put_namespace(standin, lab.namespace, {})
    standin.put({"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": manifests.TRAINEE, "namespace": lab.namespace}})  # fmt: skip
    standin.tokens.clear()

    response = client_for(people.trainee).get(f"/cohorts/{cohort.slug}/kubeconfig/")

    assert response.status_code == 503
    assert f"namespace {lab.namespace} is not this lab's (another namespace took its name" in (
        response.text
    )
    assert standin.tokens == {}
