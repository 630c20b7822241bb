"""Encryption at rest for cluster credentials (kubeconfigs).

Keys come from ``KUBECONFIG_ENCRYPTION_KEYS`` (or ``..._FILE``): comma-separated Fernet
keys, the first used to encrypt and all tried to decrypt, so a key can be rotated by
putting a new one in front. (In development the settings derive one from the secret key.)
"""

from __future__ import annotations

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """Stored ciphertext that none of the configured keys opens."""


def _fernet() -> MultiFernet:
    keys = settings.KUBECONFIG_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured(
            "KUBECONFIG_ENCRYPTION_KEYS is not set: generate one with "
            "`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`"
        )
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "KUBECONFIG_ENCRYPTION_KEYS holds a key that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)"
        ) from None


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """The plaintext; ``SecretUnreadable`` when the configured keys cannot open it, a
    missing or malformed key included (the caller shows that as a problem of the one
    cluster, and ``check --deploy`` reports the configuration)."""
    try:
        fernet = _fernet()
    except ImproperlyConfigured as exc:
        raise SecretUnreadable(f"the stored kubeconfig cannot be decrypted: {exc}") from None
    try:
        return fernet.decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "the stored kubeconfig cannot be decrypted with KUBECONFIG_ENCRYPTION_KEYS "
            "(was the key changed without keeping the old one?)"
        ) from None


def fingerprint(plaintext: str) -> str:
    """A short, non-reversible name for a secret, safe to show and to log."""
    return "sha256:" + hashlib.sha256(plaintext.encode()).hexdigest()[:12]
