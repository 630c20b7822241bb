"""Django system checks of the labs configuration (``manage.py check``).

The encryption keys are checked here rather than when the settings load, so that a
production installation without clusters still starts; ``check --deploy`` says what is
missing before the first kubeconfig is stored.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def encryption_keys_set(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.KUBECONFIG_ENCRYPTION_KEYS:
        return []
    return [
        Warning(
            "KUBECONFIG_ENCRYPTION_KEYS is not set: cluster kubeconfigs can be neither "
            "stored nor read.",
            hint="Set KUBECONFIG_ENCRYPTION_KEYS (or KUBECONFIG_ENCRYPTION_KEYS_FILE) to a key "
            "from `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`.",
            id="labs.W001",
        )
    ]


@register(Tags.security)
def encryption_keys_valid(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for position, key in enumerate(settings.KUBECONFIG_ENCRYPTION_KEYS, start=1):
        try:
            Fernet(key.encode())
        except ValueError:
            errors.append(
                Error(
                    f"Key {position} of KUBECONFIG_ENCRYPTION_KEYS is not a Fernet key "
                    "(32 url-safe base64-encoded bytes).",
                    id="labs.E001",
                )
            )
    return errors
