"""Admin views of the course. The content's source of truth is ``slides/``, loaded by
``manage.py sync_course``, so course rows are shown read-only here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from courseware.models import Course, Day, Exercise, Module, Task


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
