"""Sealing and opening the clinical link's values with the keys of ``CLINICAL_LINK_KEY``
(Fernet: AES-128-CBC with an HMAC; the first key seals, every key opens, so keys rotate)."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.CLINICAL_LINK_KEYS])


def seal(values: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def open_sealed(token: str) -> dict[str, str]:
    """The values of a token; raises cryptography's InvalidToken when no key opens it."""
    return json.loads(_fernet().decrypt(token.encode()))
