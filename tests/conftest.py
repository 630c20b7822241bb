from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from courseware.content.sync import sync_course
from courseware.models import Course

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A writable copy of the small fixture course, for tests that edit or break it."""
    target = tmp_path / "course"
    shutil.copytree(FIXTURES / "course", target)
    return target


@pytest.fixture
def fixture_course(db: None, content_dir: Path) -> Course:
    _, report = sync_course(content_dir)
    assert report is not None
    return report.course


@pytest.fixture
def real_course(db: None) -> Course:
    """The course in slides/, as the product ships it."""
    _, report = sync_course(settings.COURSE_CONTENT_DIR)
    assert report is not None
    return report.course
