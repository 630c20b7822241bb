"""The admins' interface: cohorts, their enrolments and the CSV import of trainees.

The course content's source of truth is ``slides/``, loaded by ``manage.py sync_course``, so
course rows are shown read-only here. Enrolling and removing trainees goes through
``courseware.enrolment``, the same rules the rest of the platform uses; this module only
adds forms, lists and permission checks around it.

The admin is meant for admins (staff with model permissions). An instructor who is staff
as well still sees only the cohorts they teach, as the access policy would have it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from courseware.access import cohorts_managed_by, is_admin
from courseware.cohort_labs import Operation
from courseware.cohort_labs import queue as queue_lab_operation
from courseware.enrolment import (
    MAX_ROWS,
    SAMPLE_CSV,
    CsvInvalid,
    add,
    import_csv,
    refusal,
    remove,
)
from courseware.invites import queue_invites
from courseware.models import Cohort, Course, Day, Enrolment, Exercise, Module, Task
from labs.admin import confirm_then, progress_bar
from labs.models import Lab

IMPORT_PERMISSION = "courseware.import_trainees"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Course)
class CourseAdmin(ReadOnlyAdmin):
    list_display = ["title", "slug", "synced_at", "source_digest"]


@admin.register(Day)
class DayAdmin(ReadOnlyAdmin):
    list_display = ["title", "course", "position", "is_backup", "retired"]
    list_filter = ["course", "retired"]


@admin.register(Module)
class ModuleAdmin(ReadOnlyAdmin):
    list_display = ["title", "day", "position", "source_path", "retired"]
    list_filter = ["course", "day", "retired"]
    search_fields = ["title", "slug"]


class TaskInline(admin.TabularInline):
    model = Task
    fields = ["position", "slug", "title", "retired"]
    extra = 0
    can_delete = False


@admin.register(Exercise)
class ExerciseAdmin(ReadOnlyAdmin):
    list_display = ["title", "slug", "module", "minutes", "is_demo", "retired"]
    list_filter = ["course", "module__day", "is_demo", "retired"]
    search_fields = ["title", "slug", "tasks__slug"]
    inlines = [TaskInline]


def managed_cohorts(request: HttpRequest, queryset: QuerySet[Any], path: str = "") -> QuerySet[Any]:
    """``queryset`` narrowed to the cohorts the user may manage (``access.cohorts_managed_by``).
    ``path`` leads from the queryset's model to the cohort."""
    if is_admin(request.user):
        return queryset
    lookup = f"{path}in" if path else "pk__in"
    return queryset.filter(**{lookup: cohorts_managed_by(request.user)})


def whole(cohorts: QuerySet[Cohort]) -> dict[Cohort, None]:
    """Lab action targets: every trainee of each cohort."""
    return dict.fromkeys(cohorts.select_related("cluster"))


def by_cohort(enrolments: QuerySet[Enrolment]) -> dict[Cohort, list[int]]:
    """Lab action targets: the selected enrolments, grouped by their cohort."""
    targets: dict[Cohort, list[int]] = {}
    for enrolment in enrolments.select_related("cohort__cluster"):
        targets.setdefault(enrolment.cohort, []).append(enrolment.pk)
    return targets


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# What the admin is asked to confirm before a lab operation on whole cohorts or trainees:
# the verb, its -ing form for the report, and the consequence.
LAB_OPERATIONS: dict[Operation, tuple[str, str, str]] = {
    Operation.PROVISION: (
        "Provision",
        "provisioning",
        "Every trainee gets a lab, or the existing one is completed.",
    ),
    Operation.TEARDOWN: (
        "Tear down",
        "tearing down",
        "The labs are deleted, with all the trainees' work in them.",
    ),
    Operation.RESET: (
        "Reset",
        "resetting",
        "The labs are deleted and created anew; the trainees' work in them is lost.",
    ),
}


def cohort_labs_action(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    operation: Operation,
    targets: dict[Cohort, list[int] | None],
) -> HttpResponse | None:
    """Run a lab operation on whole cohorts (``None``) or some of their enrolments, after
    confirmation; each cohort's history records it."""
    verb, gerund, consequence = LAB_OPERATIONS[operation]
    missing = [cohort.name for cohort in targets if cohort.cluster_id is None]
    if missing and operation != Operation.TEARDOWN:
        model_admin.message_user(
            request, f"No cluster set for: {', '.join(missing)}.", messages.ERROR
        )
        return None

    def describe(cohort: Cohort, enrolments: list[int] | None) -> str:
        who = "every trainee" if enrolments is None else f"{len(enrolments)} trainee(s)"
        return f"{cohort.name}: {who} on {cohort.cluster or 'no cluster'}"

    def perform() -> str:
        total = 0
        for cohort, enrolments in targets.items():
            count = queue_lab_operation(operation, cohort, enrolments)
            model_admin.log_change(
                request,
                cohort,
                f"Started {gerund} {_plural(count, 'lab')} ({describe(cohort, enrolments)}).",
            )
            total += count
        if not total:
            return f"No labs to {verb.lower()}: the selection has none."
        # Words true both when a worker runs the tasks later and when they already ran
        # (eager tasks, in development).
        return (
            f"Started {gerund} {_plural(total, 'lab')} in {_plural(len(targets), 'cohort')}; "
            "the Labs page shows their progress."
        )

    return confirm_then(
        request,
        queryset,
        action=f"{operation}_labs",
        title=f"{verb} these labs?",
        consequence=consequence,
        objects=[describe(cohort, enrolments) for cohort, enrolments in targets.items()],
        perform=perform,
        confirm_label=f"Yes, {verb.lower()} the labs",
    )


LIVE = ~Q(enrolments__state=Enrolment.State.REMOVED)


def lab_counts() -> dict[str, Any]:
    """Annotations for a cohort queryset: its live trainees, and how many of them have a
    ready lab (a trainee without a lab row counts as not ready)."""
    return {
        "trainee_count": Count("enrolments", filter=LIVE, distinct=True),
        "labs_ready": Count(
            "enrolments__lab",
            filter=LIVE & Q(enrolments__lab__state=Lab.State.READY),
            distinct=True,
        ),
    }


class EnrolmentForm(forms.ModelForm):
    """Enrols an existing user by hand, within the rules of ``courseware.enrolment``, which
    also does the saving (``add``). The state is never a field: it changes only through
    the enrolment actions (remove, invite) and the invite itself."""

    class Meta:
        model = Enrolment
        fields = ["cohort", "trainee"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.instance.pk:
            return data  # an existing enrolment: nothing of it is edited here
        # In the cohort's inline, the cohort is the formset's, set on the instance.
        cohort = data.get("cohort") or getattr(self.instance, "cohort", None)
        trainee = data.get("trainee")
        if cohort is not None and cohort.pk and trainee is not None:
            problem = refusal(cohort, trainee, name=trainee.get_username())
            if problem:
                raise forms.ValidationError(problem)
        return data

    def _get_validation_exclusions(self) -> set[str]:
        # The unique constraint on (cohort, trainee) would refuse a trainee whose removed
        # enrolment ``enrolment.add`` revives; ``refusal`` refuses a live one, in words.
        return {*super()._get_validation_exclusions(), "trainee"}


class EnrolmentInline(admin.TabularInline):
    """The cohort's enrolments, read-only: the trainee is fixed once enrolled and the state
    changes through the enrolment actions. Read-only also keeps the page at a fixed number
    of queries (an editable user field looks its label up row by row)."""

    model = Enrolment
    fields = ["trainee", "state", "invited_at", "accepted_at", "removed_at"]
    readonly_fields = fields
    extra = 0
    # Removal is a state, not a deletion, so that progress survives and can come back.
    can_delete = False
    verbose_name_plural = "Enrolments"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Enrolment]:
        # Each row shows str(enrolment), which names the trainee and the cohort.
        return super().get_queryset(request).select_related("trainee", "cohort")


class NewEnrolmentFormSet(forms.BaseInlineFormSet):
    """Saves through ``courseware.enrolment.add``: the same rules as every other way in,
    and a removed enrolment revived rather than duplicated."""

    def clean(self) -> None:
        super().clean()
        seen: set[int] = set()
        for form in self.forms:
            trainee = form.cleaned_data.get("trainee") if form.has_changed() else None
            if trainee is None:
                continue
            if trainee.pk in seen:
                raise forms.ValidationError(f"{trainee} is listed more than once.")
            seen.add(trainee.pk)

    def save(self, commit: bool = True) -> list[Enrolment]:
        self.new_objects = [
            add(self.instance, form.cleaned_data["trainee"])
            for form in self.extra_forms
            if form.has_changed() and form.cleaned_data.get("trainee") is not None
        ]
        self.changed_objects, self.deleted_objects = [], []
        return self.new_objects


class NewEnrolmentInline(admin.TabularInline):
    """Enrols users who already have an account; new people come in by CSV import."""

    model = Enrolment
    form = EnrolmentForm
    formset = NewEnrolmentFormSet
    fields = ["trainee"]
    raw_id_fields = ["trainee"]
    extra = 0
    verbose_name = "enrolment of an existing user"
    verbose_name_plural = "Enrol existing users"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Enrolment]:
        return super().get_queryset(request).none()


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(Cohort.State.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Cohort]) -> QuerySet[Cohort]:
        match self.value():
            case Cohort.State.UPCOMING:
                return queryset.upcoming()
            case Cohort.State.RUNNING:
                return queryset.running()
            case Cohort.State.FINISHED:
                return queryset.finished()
        return queryset


class ImportForm(forms.Form):
    content: bytes  # the file's bytes, read (at most the limit) while the form is cleaned

    file = forms.FileField(
        label="CSV file",
        help_text=(
            "UTF-8, one trainee per line, with this header (the order of the columns does not "
            f"matter):<pre>{SAMPLE_CSV}</pre>At most {MAX_ROWS} trainees per file. Existing "
            "users are matched by e-mail address; everyone else gets a new account."
        ),
    )
    send_invites = forms.BooleanField(
        label="Send invites now",
        required=False,
        initial=True,
        help_text="E-mail each trainee a link to set their password. Without it, send them "
        "later with the action “Send the invite again” on the enrolments.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        too_large = forms.ValidationError(
            f"The file is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB; is it a CSV file?"
        )
        if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            raise too_large
        # What is read is what counts, whatever the upload says its size is: one byte over
        # the limit is enough to refuse, and more is never read.
        upload.seek(0)
        content = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(content) > MAX_UPLOAD_BYTES:
            raise too_large
        self.content = content
        return upload


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "course",
        "starts_at",
        "ends_at",
        "state",
        "trainee_count",
        "instructor_count",
        "labs",
    ]
    list_filter = [StateFilter, "course"]
    list_select_related = ["course"]
    search_fields = ["name", "slug", "enrolments__trainee__email"]
    date_hierarchy = "starts_at"
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ["instructors"]
    fields = [
        "name",
        "slug",
        "course",
        ("starts_at", "ends_at"),
        "timezone",
        "instructors",
        "cluster",
        ("lab_profile", "pod_security"),
    ]
    inlines = [EnrolmentInline, NewEnrolmentInline]
    actions = ["provision_labs", "teardown_labs", "reset_labs"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cohort]:
        # Distinct counts: the two joins multiply each other's rows.
        queryset = (
            super()
            .get_queryset(request)
            .annotate(instructor_count=Count("instructors", distinct=True), **lab_counts())
        )
        return managed_cohorts(request, queryset)

    @admin.display(description="State")
    def state(self, cohort: Cohort) -> str:
        return cohort.state.label

    @admin.display(description="Trainees", ordering="trainee_count")
    def trainee_count(self, cohort: Cohort) -> int:
        return cohort.trainee_count

    @admin.display(description="Instructors", ordering="instructor_count")
    def instructor_count(self, cohort: Cohort) -> int:
        return cohort.instructor_count

    @admin.display(description="Labs ready")
    def labs(self, cohort: Cohort) -> str:
        if not cohort.trainee_count or (cohort.cluster_id is None and not cohort.labs_ready):
            return "–"  # nobody to have a lab, or nowhere to put labs
        return progress_bar(cohort.labs_ready, cohort.trainee_count)

    def has_manage_labs_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("courseware.manage_labs")

    @admin.action(description="Provision the labs", permissions=["manage_labs"])
    def provision_labs(self, request: HttpRequest, queryset: QuerySet[Cohort]) -> Any:
        return cohort_labs_action(self, request, queryset, Operation.PROVISION, whole(queryset))

    @admin.action(description="Tear down the labs", permissions=["manage_labs"])
    def teardown_labs(self, request: HttpRequest, queryset: QuerySet[Cohort]) -> Any:
        return cohort_labs_action(self, request, queryset, Operation.TEARDOWN, whole(queryset))

    @admin.action(description="Reset the labs", permissions=["manage_labs"])
    def reset_labs(self, request: HttpRequest, queryset: QuerySet[Cohort]) -> Any:
        return cohort_labs_action(self, request, queryset, Operation.RESET, whole(queryset))

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/import/",
                self.admin_site.admin_view(self.import_view),
                name="{}_{}_import".format(*info),
            ),
            *super().get_urls(),
        ]

    def save_model(self, request: HttpRequest, obj: Cohort, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.stricter_than_course:
            self.message_user(
                request,
                f"{obj.name} enforces Pod Security “{obj.get_pod_security_display()}”, stricter "
                f"than the “{obj.course.get_pod_security_display()}” that {obj.course.title} "
                "declares for its exercises: some of its pods will be refused in the labs "
                "(for example nginx, which starts as root). Leave the field empty to follow the "
                "course.",
                messages.WARNING,
            )

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # Trainees are enrolled once the cohort exists (its instructors are known then).
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        # A trainee enrolled by hand gets an invite, as one enrolled from a CSV file does.
        added = [obj.pk for obj in formset.new_objects if isinstance(obj, Enrolment)]
        if added:
            queue_invites(added)

    def can_import(self, request: HttpRequest, cohort: Cohort | None) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION) and self.has_change_permission(
            request, cohort
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_import": self.can_import(request, None),
            "can_view_enrolments": request.user.has_perm("courseware.view_enrolment"),
            "can_view_labs": request.user.has_perm("labs.view_lab"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def import_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Upload a CSV of trainees: all of them are enrolled, or none and every problem is
        listed with its row."""
        cohort = self.get_object(request, unquote(object_id))
        if cohort is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.can_import(request, cohort):
            raise PermissionDenied
        form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
        errors = []
        if form.is_bound and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = import_csv(
                    cohort,
                    form.content,
                    by=request.user,
                    send_invites=form.cleaned_data["send_invites"],
                    filename=upload.name,
                )
            except CsvInvalid as exc:
                errors = exc.errors
            else:
                # Invites go out after the commit, from a worker or (eager tasks) at once.
                invited = (
                    "; each gets an invite by e-mail" if form.cleaned_data["send_invites"] else ""
                )
                self.message_user(
                    request,
                    f"Imported {_plural(result.count, 'trainee')}{invited}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:courseware_cohort_change", args=[cohort.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import trainees into {cohort}",
            "subtitle": None,
            "opts": self.opts,
            "cohort": cohort,
            "form": form,
            "errors": errors,
            "has_view_permission": self.has_view_permission(request, cohort),
        }
        return TemplateResponse(request, "admin/courseware/cohort/import.html", context)


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    form = EnrolmentForm
    list_display = ["trainee", "trainee_name", "cohort", "state", "invited_at", "accepted_at"]
    list_filter = ["state", "cohort__course", "cohort"]
    list_select_related = ["trainee", "cohort"]
    search_fields = ["trainee__email", "trainee__first_name", "trainee__last_name", "cohort__name"]
    raw_id_fields = ["trainee"]
    readonly_fields = ["state", "created_at", "invited_at", "accepted_at", "removed_at"]
    actions = [
        "send_invites", "remove_from_cohort", "provision_labs", "teardown_labs", "reset_labs",
    ]  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[Enrolment]:
        return managed_cohorts(request, super().get_queryset(request), "cohort__")

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Enrolment:
        if change:
            return super().save_form(request, form, change)
        # A new enrolment is made (or a removed one revived) by the enrolment service; the
        # admin then logs and shows the saved row.
        enrolment = add(form.cleaned_data["cohort"], form.cleaned_data["trainee"])
        queue_invites([enrolment.pk])
        return enrolment

    def save_model(self, request: HttpRequest, obj: Enrolment, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if change:  # a new enrolment has nothing related; save_form saved all of it
            super().save_related(request, form, formsets, change)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Moving an enrolment to another person or cohort would move its progress with it.
        fixed = ["cohort", "trainee"] if obj is not None else []
        return [*fixed, *self.readonly_fields]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "cohort":
            kwargs["queryset"] = managed_cohorts(request, Cohort.objects.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Name", ordering="trainee__last_name")
    def trainee_name(self, enrolment: Enrolment) -> str:
        return enrolment.trainee.get_full_name()

    @admin.action(description="Send the invite again", permissions=["change"])
    def send_invites(self, request: HttpRequest, queryset: QuerySet[Enrolment]) -> None:
        selected = queryset.count()
        pending = list(
            queryset.exclude(state=Enrolment.State.REMOVED)
            .filter(accepted_at__isnull=True)
            .select_related("trainee", "cohort")
        )
        queue_invites([enrolment.pk for enrolment in pending])
        if pending:
            LogEntry.objects.log_actions(request.user.pk, pending, CHANGE, "Sent the invite again")
        skipped = selected - len(pending)
        # Invites go out after the commit, from a worker or (eager tasks) at once.
        message = (
            f"A new invite goes out by e-mail to {_plural(len(pending), 'trainee')}."
            if pending
            else "No invite sent."
        )
        if skipped:
            message += f" Skipped {skipped}: removed or already accepted."
        self.message_user(request, message, messages.SUCCESS if pending else messages.WARNING)

    @admin.action(description="Remove from the cohort", permissions=["change"])
    def remove_from_cohort(self, request: HttpRequest, queryset: QuerySet[Enrolment]) -> Any:
        selected = queryset.count()
        enrolments = list(
            queryset.exclude(state=Enrolment.State.REMOVED).select_related("trainee", "cohort")
        )
        if not enrolments:
            self.message_user(request, "Nobody to remove: already removed.", messages.WARNING)
            return None

        def perform() -> str:
            with transaction.atomic():
                for enrolment in enrolments:
                    remove(enrolment)
                LogEntry.objects.log_actions(
                    request.user.pk, enrolments, CHANGE, "Removed from the cohort"
                )
            message = f"Removed {_plural(len(enrolments), 'trainee')} from their cohort."
            if selected > len(enrolments):
                message += f" Skipped {selected - len(enrolments)}: already removed."
            return message

        return confirm_then(
            request,
            queryset,
            action="remove_from_cohort",
            title=f"Remove {_plural(len(enrolments), 'trainee')} from their cohort?",
            consequence="They lose access to the cohort at once, and their labs are torn "
            "down with everything in them. Their progress is kept: enrolling them again "
            "brings it back.",
            objects=[str(enrolment) for enrolment in enrolments],
            perform=perform,
        )

    def has_manage_labs_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("courseware.manage_labs")

    @admin.action(
        description="Provision the labs of the selected trainees", permissions=["manage_labs"]
    )
    def provision_labs(self, request: HttpRequest, queryset: QuerySet[Enrolment]) -> Any:
        live = queryset.exclude(state=Enrolment.State.REMOVED)
        return cohort_labs_action(self, request, queryset, Operation.PROVISION, by_cohort(live))

    @admin.action(
        description="Tear down the labs of the selected trainees", permissions=["manage_labs"]
    )
    def teardown_labs(self, request: HttpRequest, queryset: QuerySet[Enrolment]) -> Any:
        return cohort_labs_action(self, request, queryset, Operation.TEARDOWN, by_cohort(queryset))

    @admin.action(
        description="Reset the labs of the selected trainees", permissions=["manage_labs"]
    )
    def reset_labs(self, request: HttpRequest, queryset: QuerySet[Enrolment]) -> Any:
        live = queryset.exclude(state=Enrolment.State.REMOVED)
        return cohort_labs_action(self, request, queryset, Operation.RESET, by_cohort(live))
