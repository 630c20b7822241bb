"""The image catalogue: the images the course uses, which tags of them exist, and what each
runs when the pod gives no command.

Nothing is downloaded. An image reference names a repository of the catalogue (``nginx``,
``docker.io/library/nginx``, ``registry.k8s.io/pause``, ...) and a tag that looks like a real
tag of it (``nginx:1.27``, ``nginx:1.28.0-alpine``, ``nginx:latest``, a digest); such an image
"pulls". Any other reference fails to pull with containerd's words: ``not found`` for an
unknown tag of a known repository, ``pull access denied`` for an unknown repository.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

__all__ = ["CATALOGUE", "Image", "PullFailure", "Reference", "find", "reference"]

_VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-(.+))?")
# The variants that tags carry after the version: 1.27-alpine, 1.37.0-musl, 1.34.1-debian-12-r3.
_SUFFIX = re.compile(
    r"(alpine(\d+\.\d+)?|slim|perl|otel|bookworm|bullseye|trixie|musl|glibc|uclibc|jammy|noble"
    r"|focal|debian-\d+(-r\d+)?)(-(slim|perl|otel))?"
)


@dataclass(frozen=True)
class Image:
    """A repository of the catalogue. ``versions`` bounds the tags that exist: (major, lowest
    minor, highest minor) per major version; ``names`` are tags that are words (latest,
    alpine, ...). ``entrypoint`` and ``cmd`` are what runs without a command; ``listens`` the
    ports its server answers on; ``stops`` whether it ends at once on SIGTERM (a server does; a
    shell as PID 1 ignores the signal and is killed when the grace period ends)."""

    repository: str  # as containerd names it: docker.io/library/nginx
    versions: tuple[tuple[int, int, int], ...]
    names: tuple[str, ...] = ("latest",)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    listens: tuple[int, ...] = ()
    size: int = 5_000_000
    shell: str = "sh"  # "sh" (busybox or dash), "bash" (has bash too), "" (no shell)
    user: str = "root"
    stops: bool = True
    highest_patch: int = 99
    aliases: tuple[str, ...] = field(default=())

    def has_tag(self, tag: str) -> bool:
        base, _, variant = tag.partition("-")
        if tag in self.names or (base in self.names and _SUFFIX.fullmatch(variant)):
            return True
        match = _VERSION.fullmatch(tag)
        if not match or (match.group(4) and not _SUFFIX.fullmatch(match.group(4))):
            return False
        major = int(match.group(1))
        minor = int(match.group(2)) if match.group(2) is not None else None
        patch = int(match.group(3)) if match.group(3) is not None else 0
        for known_major, lowest, highest in self.versions:
            if major != known_major:
                continue
            if minor is None:
                return True
            if lowest <= minor <= highest and patch <= self.highest_patch:
                return True
        return False


_LIB = "docker.io/library/"
_SERVER_NAMES = ("latest", "alpine", "stable", "mainline", "bookworm", "trixie", "perl", "slim")

CATALOGUE: tuple[Image, ...] = (
    Image(f"{_LIB}nginx", ((1, 0, 29),),
          (*_SERVER_NAMES, "alpine-slim", "stable-alpine", "mainline-alpine"),
          ("/docker-entrypoint.sh",), ("nginx", "-g", "daemon off;"), (80,), 72_195_292, "bash",
          highest_patch=12),
    Image(f"{_LIB}busybox", ((1, 20, 37),), ("latest", "stable", "musl", "glibc", "uclibc"),
          (), ("sh",), (), 2_155_547, "sh", stops=False, highest_patch=9),
    Image(f"{_LIB}alpine", ((3, 0, 22),), ("latest", "edge"), (), ("/bin/sh",), (), 3_653_068,
          "sh", stops=False, highest_patch=9),
    Image(f"{_LIB}httpd", ((2, 2, 4),), ("latest", "alpine", "bookworm", "trixie"),
          ("httpd-foreground",), (), (80,), 58_123_456, "bash", highest_patch=65),
    Image(f"{_LIB}redis", ((5, 0, 0), (6, 0, 2), (7, 0, 4), (8, 0, 4)),
          ("latest", "alpine", "bookworm", "trixie"), ("docker-entrypoint.sh",),
          ("redis-server",), (6379,), 45_987_123, "bash", highest_patch=20),
    Image(f"{_LIB}postgres", ((9, 6, 6), *((major, 0, 9) for major in range(10, 19))),
          ("latest", "alpine", "bookworm", "trixie"), ("docker-entrypoint.sh",),
          ("postgres",), (5432,), 158_456_789, "bash", highest_patch=30),
    Image(f"{_LIB}perl", ((5, 8, 42),), ("latest", "slim", "threaded", "bookworm"), (),
          ("perl", "-de0"), (), 350_123_456, "bash", stops=False, highest_patch=9),
    Image(f"{_LIB}ubuntu", ((20, 4, 4), (22, 4, 4), (24, 4, 10), (25, 4, 10)),
          ("latest", "jammy", "noble", "focal", "rolling"), (), ("/bin/bash",), (), 29_754_422,
          "bash", stops=False),
    Image(f"{_LIB}debian", ((11, 0, 11), (12, 0, 12), (13, 0, 3)),
          ("latest", "bookworm", "bullseye", "trixie", "stable", "stable-slim", "bookworm-slim",
           "trixie-slim"), (), ("bash",), (), 48_123_456, "bash", stops=False),
    Image(f"{_LIB}python", ((3, 8, 14),), ("latest", "slim", "alpine", "bookworm"), (),
          ("python3",), (), 412_345_678, "bash", stops=False),
    Image("registry.k8s.io/pause", ((3, 0, 10),), ("latest",), ("/pause",), (), (), 320_368,
          "", highest_patch=0),
    Image("docker.io/curlimages/curl", ((7, 60, 88), (8, 0, 17)), ("latest",),
          ("/entrypoint.sh",), ("curl",), (), 11_234_567, "sh", "curl_user", stops=False),
    Image("docker.io/bitnami/kubectl", ((1, 20, 34),), ("latest",), ("kubectl",), ("--help",),
          (), 76_543_210, "bash", "1001", stops=False, highest_patch=20),
    Image("registry.k8s.io/hpa-example", ((0, 0, 0),), ("latest",), (), ("apache2-foreground",),
          (80,), 172_345_678, "bash"),
    Image("docker.io/hashicorp/http-echo", ((0, 2, 2), (1, 0, 0)), ("latest", "alpine"),
          ("/http-echo",), (), (5678,), 4_123_456, ""),
    Image("docker.io/traefik/whoami", ((1, 8, 11),), ("latest",), ("/whoami",), (), (80,),
          3_456_789, ""),
    Image("registry.k8s.io/e2e-test-images/agnhost", ((2, 30, 55),), (), ("/agnhost",),
          ("pause",), (), 51_234_567, "sh"),
)  # fmt: skip

_BY_REPOSITORY = {image.repository: image for image in CATALOGUE}


@dataclass(frozen=True)
class Reference:
    """An image reference split as containerd does: ``nginx:1.27`` is repository
    ``docker.io/library/nginx``, tag ``1.27``."""

    text: str
    repository: str
    tag: str
    digest: str = ""

    @property
    def canonical(self) -> str:
        """What a container status shows as ``image``: docker.io/library/nginx:1.27."""
        if self.digest and not self.tag:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"

    @property
    def image_id(self) -> str:
        """A stable digest per reference (the same tag is always the same image here)."""
        digest = self.digest or "sha256:" + hashlib.sha256(self.canonical.encode()).hexdigest()
        return f"{self.repository}@{digest}"

    @property
    def short(self) -> str:
        """The repository's last part: nginx, busybox, pause."""
        return self.repository.rsplit("/", 1)[-1]


class PullFailure(Exception):
    """Why a pull fails: ``code`` is the CRI status (NotFound, Unknown), ``reason`` the
    kubelet's (ErrImagePull, InvalidImageName)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def reference(text: str) -> Reference:
    """Split ``text`` as containerd's reference parser does; raises `PullFailure`
    (InvalidImageName) for what it cannot parse."""
    name, digest = text, ""
    if "@" in name:
        name, digest = name.split("@", 1)
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    parts = name.split("/")
    if "." in parts[0] or ":" in parts[0] or parts[0] == "localhost":
        if len(parts) == 1:
            parts = ["docker.io", *parts]
    else:
        parts = ["docker.io", *parts]
    if parts[0] == "docker.io" and len(parts) == 2:
        parts = ["docker.io", "library", parts[1]]
    repository = "/".join(parts)
    path = "/".join(parts[1:])
    if not re.fullmatch(r"[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*", path):
        why = "invalid reference format"
        if path.lower() != path:
            why += f": repository name ({path}) must be lowercase"
        raise PullFailure(
            "InvalidImageName",
            f'Failed to apply default image tag "{text}": couldn\'t parse image name "{text}": '
            + why,
        )
    if not tag and not digest:
        tag = "latest"
    return Reference(text, repository, tag, digest)


def find(ref: Reference) -> Image:
    """The catalogue's image for ``ref``; raises `PullFailure` as containerd words a pull of
    anything else."""
    image = _BY_REPOSITORY.get(ref.repository)
    shown = ref.canonical
    if image is None:
        raise PullFailure(
            "ErrImagePull",
            f"rpc error: code = Unknown desc = failed to pull and unpack image "
            f'"{shown}": failed to resolve reference "{shown}": pull access denied, repository '
            "does not exist or may require authorization: server message: insufficient_scope: "
            "authorization failed",
        )
    valid_digest = bool(re.fullmatch(r"sha256:[0-9a-f]{64}", ref.digest)) if ref.digest else True
    if (ref.tag and not image.has_tag(ref.tag)) or not valid_digest:
        raise PullFailure(
            "ErrImagePull",
            f"rpc error: code = NotFound desc = failed to pull and unpack image "
            f'"{shown}": failed to resolve reference "{shown}": {shown}: not found',
        )
    return image
