"""The files a simulated container sees: its mounts, what it wrote itself, and the few files
of its image (nginx's welcome page and configuration, httpd's page, ``/etc/os-release``, the
top directories of its root), as `simcluster.containers.world` assembles them."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from simcluster.containers.images import Image

__all__ = ["Filesystem", "Mount", "image_files"]


@dataclass
class Mount:
    """Files under ``path`` (keys relative to it; "" when the mount is one file)."""

    path: str
    files: dict[str, str]
    writable: bool


@dataclass
class Filesystem:
    """The files one container sees: mounts first, then what it wrote, then the image's."""

    image: dict[str, str]
    dirs: set[str]
    mounts: list[Mount]
    layer: dict[str, str]
    read_only_root: bool = False

    def _mount(self, path: str) -> tuple[Mount, str] | None:
        for mount in sorted(self.mounts, key=lambda m: -len(m.path)):
            if path == mount.path:
                return mount, ""
            if path.startswith(mount.path.rstrip("/") + "/"):
                return mount, path[len(mount.path.rstrip("/")) + 1 :]
        return None

    def read(self, path: str) -> str | None:
        found = self._mount(path)
        if found is not None:
            mount, rest = found
            return mount.files.get(rest)
        if path in self.layer:
            return self.layer[path]
        return self.image.get(path)

    def is_dir(self, path: str) -> bool:
        if path == "/" or path in self.dirs:
            return True
        found = self._mount(path)
        if found is not None:
            mount, rest = found
            if rest == "":
                return "" not in mount.files
            return any(key.startswith(rest + "/") for key in mount.files)
        prefix = path.rstrip("/") + "/"
        return any(key.startswith(prefix) for key in (*self.layer, *self.image))

    def entries(self, path: str) -> list[str] | None:
        """The names in directory ``path``, sorted; None when it is not a directory."""
        if not self.is_dir(path):
            return None
        prefix = "/" if path == "/" else path.rstrip("/") + "/"
        names: set[str] = set()
        everything = [*self.layer, *self.image, *self.dirs]
        for mount in self.mounts:
            everything.append(mount.path)
            for key in mount.files:
                if key:
                    everything.append(f"{mount.path.rstrip('/')}/{key}")
        for full in everything:
            if full.startswith(prefix) and full != prefix:
                names.add(full[len(prefix) :].split("/", 1)[0])
        return sorted(names)

    def write(self, path: str, text: str, *, append: bool = False) -> str | None:
        """Write a file; the error ("Read-only file system", ...) when it cannot be written."""
        found = self._mount(path)
        if found is not None:
            mount, rest = found
            if not mount.writable:
                return "Read-only file system"
            mount.files[rest] = (mount.files.get(rest, "") if append else "") + text
            return None
        if self.read_only_root:
            return "Read-only file system"
        parent = posixpath.dirname(path)
        if not self.is_dir(parent):
            return "No such file or directory"
        self.layer[path] = ((self.read(path) or "") if append else "") + text
        return None


_NGINX_WELCOME = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""
_NGINX_DEFAULT_CONF = """server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""
_ROOT_DIRS = {
    "busybox": ("bin", "dev", "etc", "home", "lib", "lib64", "proc", "root", "sys", "tmp", "usr",
                "var"),
    "alpine": ("bin", "dev", "etc", "home", "lib", "media", "mnt", "opt", "proc", "root", "run",
               "sbin", "srv", "sys", "tmp", "usr", "var"),
    "debian": ("bin", "boot", "dev", "etc", "home", "lib", "lib64", "media", "mnt", "opt", "proc",
               "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var"),
}  # fmt: skip


def image_files(image: Image | None, image_text: str) -> tuple[dict[str, str], set[str]]:
    short = image.repository.rsplit("/", 1)[-1] if image else ""
    family = {"busybox": "busybox"}.get(short, "alpine" if "alpine" in image_text else "debian")
    if short in ("pause", "http-echo", "whoami"):
        family = ""
    dirs = {f"/{name}" for name in _ROOT_DIRS.get(family, ())} | {"/etc", "/tmp", "/dev", "/proc"}
    files: dict[str, str] = {}
    if family == "alpine":
        files["/etc/os-release"] = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.22.1\n'
    elif family == "debian":
        files["/etc/os-release"] = (
            'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
            'VERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n'
        )
    if short == "nginx":
        files["/usr/share/nginx/html/index.html"] = _NGINX_WELCOME
        files["/usr/share/nginx/html/50x.html"] = "<html><body>An error occurred.</body></html>\n"
        files["/etc/nginx/conf.d/default.conf"] = _NGINX_DEFAULT_CONF
        files["/etc/nginx/nginx.conf"] = (
            "user  nginx;\nworker_processes  auto;\n\nerror_log  /var/log/nginx/error.log "
            "notice;\npid        /run/nginx.pid;\n\nevents {\n    worker_connections  1024;\n}"
            "\n\nhttp {\n    include       /etc/nginx/mime.types;\n    include "
            "/etc/nginx/conf.d/*.conf;\n}\n"
        )
    if short == "httpd":
        files["/usr/local/apache2/htdocs/index.html"] = (
            "<html><body><h1>It works!</h1></body></html>\n"
        )
    return files, dirs
