"""Course Markdown is rendered with highlighting and sanitised before any template sees it."""

from __future__ import annotations

from courseware.content.rendering import render


def test_it_strips_script_and_event_handlers() -> None:
    html = render(
        '<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n<b onclick="x()">bold</b>'
    )

    assert "<script" not in html
    assert "onerror" not in html
    assert "onclick" not in html
    assert "<b>bold</b>" in html


def test_it_drops_javascript_links() -> None:
    html = render("[click](javascript:alert(1)) and [docs](https://kubernetes.io/docs/)")

    assert "javascript:" not in html
    assert '<a href="https://kubernetes.io/docs/" rel="noopener noreferrer">docs</a>' in html


def test_it_highlights_fenced_code_by_language() -> None:
    html = render("```yaml no-validate\nkind: Pod\n```")

    assert '<div class="highlight">' in html
    assert '<span class="nt">kind</span>' in html
    assert "no-validate" not in html


def test_it_renders_tables() -> None:
    assert "<td>2</td>" in render("| a | b |\n|---|---|\n| 1 | 2 |")
