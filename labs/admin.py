"""Clusters in the admin. Provisioning actions (which need ``courseware.manage_labs``) arrive
with the labs work; for now admins name the clusters that cohorts point at."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from labs.models import Cluster


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "cohort_count"]
    search_fields = ["name", "description"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cluster]:
        return super().get_queryset(request).annotate(cohort_count=Count("cohorts"))

    @admin.display(description="Cohorts", ordering="cohort_count")
    def cohort_count(self, cluster: Cluster) -> int:
        return cluster.cohort_count
