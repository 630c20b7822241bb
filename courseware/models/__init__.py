from courseware.models.cohort import Cohort, Enrolment, LabProfile
from courseware.models.course import (
    AgendaItem,
    Course,
    Day,
    Exercise,
    Module,
    PodSecurity,
    Slide,
    Task,
)
from courseware.models.help import HelpRequest
from courseware.models.progress import TaskResult

__all__ = [
    "AgendaItem",
    "Cohort",
    "Course",
    "Day",
    "Enrolment",
    "Exercise",
    "HelpRequest",
    "LabProfile",
    "Module",
    "PodSecurity",
    "Slide",
    "Task",
    "TaskResult",
]
