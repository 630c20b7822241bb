"""Markdown → sanitised HTML. Everything the course shows passes through ``render``.

Code is highlighted server-side by Pygments (CSS classes, no inline styles), and the
result is cleaned by nh3 so that content can never carry script into a page.
"""

from __future__ import annotations

import markdown
import nh3

from courseware.content.fences import strip_flags

_EXTENSIONS = ["fenced_code", "codehilite", "tables", "sane_lists", "smarty"]
_EXTENSION_CONFIGS = {"codehilite": {"css_class": "highlight", "guess_lang": False}}

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "div": {"class"},
    "pre": {"class"},
    "span": {"class"},
    "td": {"align"},
    "th": {"align"},
}


def render(text: str) -> str:
    """Render course Markdown to HTML that is safe to mark safe in a template."""
    if not text.strip():
        return ""
    html = markdown.markdown(
        strip_flags(text), extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIGS
    )
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
