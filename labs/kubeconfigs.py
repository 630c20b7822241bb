"""What Lotse accepts in a stored kubeconfig: inline credentials only.

A kubeconfig can make its client run a program (``exec``, some ``auth-provider``s) or read
files (``tokenFile``, ``client-certificate``, ``certificate-authority`` and the like). On
the Lotse host that program would run as the web or worker process, and a file would be
read from its disk and sent to whatever server the kubeconfig names. So every key of the
users and clusters entries is checked against a list of what is known to be inert: the
credentials written into the document itself. The admin form uses ``problems`` to refuse
such a kubeconfig when it is pasted, and ``labs.kube.Kube.for_cluster`` uses it again
before building a client, for documents stored before this check existed.

``load`` parses the text; its error names the line and column and never quotes the text,
which holds credentials.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

INLINE_CREDENTIALS = ("token", "client-certificate-data", "client-key-data")
USER_KEYS = {*INLINE_CREDENTIALS, "username", "password", "extensions"}
CLUSTER_KEYS = {
    "server",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "tls-server-name",
    "proxy-url",
    "disable-compression",
    "extensions",
}
# Why the keys people meet most often are refused, in words an admin can act on.
_REFUSED = {
    "exec": "runs a program on the Lotse host",
    "auth-provider": "runs a program or reads files on the Lotse host",
    "tokenFile": "reads a file on the Lotse host",
    "client-certificate": "names a file on the Lotse host",
    "client-key": "names a file on the Lotse host",
    "certificate-authority": "names a file on the Lotse host",
}
_USE_INSTEAD = {
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
    "certificate-authority": "certificate-authority-data",
    "tokenFile": "token",
}


class KubeconfigInvalid(ValueError):
    """Text that is not a kubeconfig Lotse accepts; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load(text: str) -> dict[str, Any]:
    """The kubeconfig document in ``text``, checked with ``problems``.

    Raises ``KubeconfigInvalid``. Messages name places in the text (line, column, entry
    and key), never its content."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigInvalid([_yaml_problem(exc)]) from None
    if not isinstance(document, dict):
        raise KubeconfigInvalid(["Not a kubeconfig: the text is not a YAML mapping."])
    found = problems(document)
    if found:
        raise KubeconfigInvalid(found)
    return document


def problems(document: dict[str, Any]) -> list[str]:
    """Why ``document`` (a parsed kubeconfig) cannot be used, each problem naming its entry
    and key; empty when it can."""
    found: list[str] = []
    contexts = document.get("contexts")
    if not contexts:
        found.append("Not a kubeconfig: it has no contexts.")
    elif not isinstance(contexts, list) or not all(isinstance(c, dict) for c in contexts):
        found.append("“contexts” must be a list of entries with a name and a context.")
    sections = (("users", "user", USER_KEYS), ("clusters", "cluster", CLUSTER_KEYS))
    for section, inner, allowed in sections:
        entries = document.get(section) or []
        if not isinstance(entries, list):
            found.append(f"“{section}” must be a list.")
            continue
        for position, entry in enumerate(entries, start=1):
            name = entry.get("name") if isinstance(entry, dict) else None
            named = isinstance(name, str) and name
            where = f"{inner} “{name}”" if named else f"{inner} #{position}"
            body = entry.get(inner) if isinstance(entry, dict) else None
            if body is None:
                continue
            if not isinstance(body, dict):
                found.append(f"{where}: “{inner}” must be a mapping.")
                continue
            found.extend(_key_problem(where, str(key)) for key in body if key not in allowed)
    return found


def _key_problem(where: str, key: str) -> str:
    reason = _REFUSED.get(key, "is not one of the keys Lotse accepts")
    message = f"{where}: “{key}” {reason}"
    if key in _USE_INSTEAD:
        message += f"; use “{_USE_INSTEAD[key]}” with the content inline"
    elif key in ("exec", "auth-provider"):
        message += f"; use inline credentials ({', '.join(INLINE_CREDENTIALS)})"
    return message + "."


# A problem text may quote a piece of the document ("found undefined alias 'x'"). Pieces
# longer than an escaped character could be a credential, so they are left out; token
# names such as '<stream end>' are the parser's own words and stay.
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_TOKEN_NAME = re.compile(r"<[a-z ]+>")


def _without_content(problem: str) -> str:
    def keep_or_drop(match: re.Match[str]) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if len(inner) <= 2 or _TOKEN_NAME.fullmatch(inner) else "…"

    return _QUOTED.sub(keep_or_drop, problem)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "the text is not valid YAML"
    problem = _without_content(problem)
    if mark is None:
        return f"Not YAML: {problem}."
    return f"Not YAML: {problem} (line {mark.line + 1}, column {mark.column + 1})."
