"""Container image references compared as a container runtime resolves them.

``nginx:1.27``, ``library/nginx:1.27``, ``docker.io/nginx:1.27`` and
``docker.io/library/nginx:1.27`` name the same image, and so does ``nginx`` with
``nginx:latest``: a check that asks for one passes with any spelling of it. The rules are
Docker's reference normalisation (``github.com/distribution/reference``): a first path part
without a dot or a colon (and other than ``localhost``) is not a registry, so the image is
on Docker Hub; a Docker Hub image without a path is in ``library/``; no tag and no digest
means ``latest``.
"""

from __future__ import annotations

__all__ = ["familiar", "normalize", "same_image"]

_HUB = "docker.io"
_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")
_OFFICIAL = "library/"


def _split(reference: str) -> tuple[str, str, str]:
    """(registry, path, tag or digest suffix with its ``:`` or ``@``) of a reference."""
    name, at, digest = reference.partition("@")
    suffix = f"@{digest}" if at else ""
    # A colon after the last slash starts the tag; one before it is a registry's port.
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, suffix = name[:colon], f":{name[colon + 1 :]}{suffix}"
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = _HUB, name
    if registry in _HUB_ALIASES:
        registry = _HUB
    return registry, path, suffix


def normalize(reference: str) -> str:
    """The fully qualified form: ``nginx`` is ``docker.io/library/nginx:latest``."""
    registry, path, suffix = _split(reference.strip())
    if registry == _HUB and "/" not in path:
        path = _OFFICIAL + path
    return f"{registry}/{path}{suffix or ':latest'}"


def familiar(reference: str) -> str:
    """The short form people write: ``docker.io/library/nginx:1.27`` is ``nginx:1.27``."""
    registry, path, suffix = _split(reference.strip())
    if registry == _HUB:
        path = path.removeprefix(_OFFICIAL)
        return f"{path}{suffix}"
    return f"{registry}/{path}{suffix}"


def same_image(a: str, b: str) -> bool:
    return normalize(a) == normalize(b)
