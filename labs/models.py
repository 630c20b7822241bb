"""Clusters that labs are provisioned on. Connection details (kubeconfig, in-cluster
service account, toolbox image) arrive with the provisioning work; a cohort can already
name its target."""

from __future__ import annotations

from django.db import models


class Cluster(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name
