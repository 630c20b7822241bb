"""Clusters and labs in the admin: credentials that are never shown back, a connection
test, lab states with progress, and the provision / tear down / reset actions (each asks
for confirmation and needs the ``courseware.manage_labs`` permission)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html

from labs import admission, kubeconfigs, tasks
from labs.kube import ClusterError, Kube
from labs.models import Cluster, Lab, installation_key

MANAGE_LABS = "courseware.manage_labs"


def progress_bar(done: int, total: int, label: str = "") -> str:
    percent = round(100 * done / total) if total else 0
    return format_html(
        '<span class="lotse-progress" title="{}%"><progress max="100" value="{}">{}%</progress>'
        " {}</span>",
        percent,
        percent,
        percent,
        label or f"{done}/{total}",
    )


def confirm_then(
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    action: str,
    title: str,
    consequence: str,
    objects: list[str],
    perform: Callable[[], str],
    confirm_label: str = "Yes, I'm sure",
) -> HttpResponse | None:
    """Django admin's two-step action: first a page naming what will happen, then, on
    "Yes", the work. Returns the confirmation page, or None once done. ``confirm_label``
    is the button's text, in words ("Yes, provision the labs"); ``action``, the admin
    action's internal name, only travels in the form."""
    if request.POST.get("confirmed") == "yes":
        messages.success(request, perform())
        return None
    return TemplateResponse(
        request,
        "admin/labs/confirm_action.html",
        {
            "title": title,
            "consequence": consequence,
            "objects": objects,
            "queryset": queryset,
            "action": action,
            "confirm_label": confirm_label,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": queryset.model._meta,
        },
    )


class SecretTextarea(forms.Textarea):
    """A textarea that never renders its value: a kubeconfig typed in is not sent back, not
    even when the form has to be shown again with an error."""

    def format_value(self, value: Any) -> None:
        return None


class ClusterForm(forms.ModelForm):
    public_server = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text=Cluster._meta.get_field("public_server").help_text,
    )
    kubeconfig_text = forms.CharField(
        label="Kubeconfig",
        required=False,
        widget=SecretTextarea(attrs={"rows": 8, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Paste a kubeconfig to replace the stored one; leave empty to keep it. It is "
        "stored encrypted and never shown again.",
    )

    class Meta:
        model = Cluster
        fields = [
            "name", "description", "access", "context", "public_server", "toolbox_image",
            "ingress_namespaces", "api_server_cidrs", "egress_allow", "trainees_see_nodes",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        text = data.get("kubeconfig_text", "").strip()
        if text:
            try:
                config = kubeconfigs.load(text)
            except kubeconfigs.KubeconfigInvalid as exc:
                raise forms.ValidationError({"kubeconfig_text": exc.problems}) from None
            if not settings.KUBECONFIG_ENCRYPTION_KEYS:
                raise forms.ValidationError(
                    {
                        "kubeconfig_text": "KUBECONFIG_ENCRYPTION_KEYS is not set, so the "
                        "kubeconfig cannot be stored encrypted; ask whoever runs Lotse to set it."
                    }
                )
            names = [c.get("name") for c in config["contexts"] if isinstance(c, dict)]
            context = data.get("context")
            if context and context not in names:
                raise forms.ValidationError(
                    {
                        "context": f"The kubeconfig has no context {context!r} (it has: "
                        f"{', '.join(map(str, names))})."
                    }
                )
        elif data.get("access") == Cluster.Access.KUBECONFIG and not (
            self.instance.pk and self.instance.kubeconfig_encrypted
        ):
            raise forms.ValidationError({"kubeconfig_text": "A kubeconfig is required."})
        return data

    def save(self, commit: bool = True) -> Cluster:
        cluster = super().save(commit=False)
        text = self.cleaned_data.get("kubeconfig_text", "").strip()
        if text:
            cluster.set_kubeconfig(text)
        if commit:
            cluster.save()
        return cluster


def guard_report(kube: Kube) -> str:
    """Whether this installation's admission policy is on the cluster and up to date
    (``labs.admission.guard_status``), or why it cannot be."""
    key = installation_key()
    try:
        installed = [
            kube.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
            for obj in admission.guard_objects(key)
        ]
    except ClusterError as exc:
        # Discovery found no such API (Kubernetes before 1.30): no status, and final.
        if exc.status is None and not exc.retryable:
            return f"{admission.MISSING} ({exc.message}; it needs Kubernetes 1.30 or later)"
        raise
    return admission.guard_status(installed, key)


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    form = ClusterForm
    list_display = ["name", "access", "context", "kubeconfig_fingerprint", "cohort_count"]
    search_fields = ["name", "description"]
    readonly_fields = ["kubeconfig_fingerprint"]
    actions = ["test_connection"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cluster]:
        return super().get_queryset(request).annotate(cohort_count=Count("cohorts"))

    @admin.display(description="Cohorts", ordering="cohort_count")
    def cohort_count(self, cluster: Cluster) -> int:
        return cluster.cohort_count

    # Change permission: the test makes Lotse use the stored credentials, which is what
    # editing the cluster decides, not what viewing its row allows.
    @admin.action(description="Test the connection", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Cluster]) -> None:
        for cluster in queryset:
            try:
                kube = Kube.for_cluster(cluster)
                version = kube.server_version()
                guard = guard_report(kube)
            except ClusterError as exc:
                self.message_user(request, f"{cluster}: {exc.message}", messages.ERROR)
                continue
            level = messages.SUCCESS if guard == admission.CURRENT else messages.WARNING
            self.message_user(
                request,
                f"{cluster}: reachable, Kubernetes {version}; admission policy {guard}",
                level,
            )


GERUNDS = {"provision": "provisioning", "teardown": "tearing down", "reset": "resetting"}


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["namespace", "trainee", "cohort", "state", "progress", "step", "last_error"]
    list_filter = ["state", "enrolment__cohort", "cluster"]
    list_select_related = ["enrolment__trainee", "enrolment__cohort"]
    search_fields = ["namespace", "enrolment__trainee__email"]
    readonly_fields = [f.name for f in Lab._meta.fields]
    actions = ["provision", "teardown", "reset"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # labs come from enrolments, through the actions

    def has_manage_labs_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_LABS)

    @admin.display(description="Trainee", ordering="enrolment__trainee__email")
    def trainee(self, lab: Lab) -> str:
        return lab.enrolment.trainee.email or lab.enrolment.trainee.username

    @admin.display(description="Cohort", ordering="enrolment__cohort__name")
    def cohort(self, lab: Lab) -> str:
        return lab.enrolment.cohort.name

    @admin.display(description="Progress")
    def progress(self, lab: Lab) -> str:
        return progress_bar(lab.steps_done, lab.steps_total, f"{lab.progress}%")

    def _labs_action(
        self, request: HttpRequest, queryset: QuerySet[Lab], action: str, verb: str, task: Any
    ) -> HttpResponse | None:
        started = f"Started {GERUNDS[action]}"

        def perform() -> str:
            labs = list(queryset)
            for lab in labs:
                self.log_change(request, lab, f"{started}.")
            lab_ids = [lab.pk for lab in labs]

            def enqueue() -> None:
                for lab_id in lab_ids:
                    task.delay(lab_id)

            transaction.on_commit(enqueue)
            # Words true both when a worker runs the tasks later and when they already ran
            # (eager tasks, in development).
            return f"{started} {len(labs)} lab(s); the list shows their state."

        return confirm_then(
            request,
            queryset,
            action=action,
            title=f"{verb.capitalize()} {queryset.count()} lab(s)?",
            consequence={
                "provision": "Missing objects are created and the labs brought to ready.",
                "teardown": "The namespaces and everything in them are deleted.",
                "reset": "The namespaces and everything in them are deleted and created anew; "
                "the trainees' work is lost.",
            }[action],
            objects=[lab.namespace for lab in queryset],
            perform=perform,
            confirm_label=f"Yes, {verb} the selected labs",
        )

    @admin.action(description="Provision the selected labs", permissions=["manage_labs"])
    def provision(self, request: HttpRequest, queryset: QuerySet[Lab]) -> HttpResponse | None:
        return self._labs_action(request, queryset, "provision", "provision", tasks.provision_lab)

    @admin.action(description="Tear down the selected labs", permissions=["manage_labs"])
    def teardown(self, request: HttpRequest, queryset: QuerySet[Lab]) -> HttpResponse | None:
        return self._labs_action(request, queryset, "teardown", "tear down", tasks.teardown_lab)

    @admin.action(description="Reset the selected labs", permissions=["manage_labs"])
    def reset(self, request: HttpRequest, queryset: QuerySet[Lab]) -> HttpResponse | None:
        return self._labs_action(request, queryset, "reset", "reset", tasks.reset_lab)
