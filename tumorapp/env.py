"""Typed settings from the environment.

Every getter names the variable in its error, so a bad deployment stops at start-up with a
message an operator can act on instead of failing later at the first request. Secrets can
also come from a file: ``NAME_FILE=/run/secrets/name`` is read when ``NAME`` is unset.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is not None:
        return value
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE: cannot read {file_path!r} ({exc.strerror})"
            ) from exc
    return None


def _missing(name: str, default: object) -> object:
    if default is _MISSING:
        raise ImproperlyConfigured(f"{name}: this environment variable is required")
    return default


def env_str(name: str, default: object = _MISSING) -> str:
    value = _raw(name)
    return _missing(name, default) if value is None else value  # type: ignore[return-value]


def env_bool(name: str, default: object = _MISSING) -> bool:
    value = _raw(name)
    if value is None:
        return _missing(name, default)  # type: ignore[return-value]
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected a boolean (true/false/1/0), got {value!r}")


def env_int(name: str, default: object = _MISSING, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return _missing(name, default)  # type: ignore[return-value]
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}")
    return number


def env_float(name: str, default: object = _MISSING) -> float:
    value = _raw(name)
    if value is None:
        return _missing(name, default)  # type: ignore[return-value]
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {value!r}") from None


def env_list(name: str, default: object = _MISSING) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(_missing(name, default))  # type: ignore[arg-type]
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: object = _MISSING) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def env_url(name: str, schemes: tuple[str, ...], default: object = _MISSING) -> str | None:
    value = _raw(name)
    if value is None:
        return _missing(name, default)  # type: ignore[return-value]
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        raise ImproperlyConfigured(
            f"{name}: expected a URL with scheme {' or '.join(schemes)}, got {value!r}"
        )
    return value
