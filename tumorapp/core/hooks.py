"""Where a lower layer reaches a higher one without importing it (docs/architecture.md).

Apps import only the layers below them (the contract in pyproject.toml, checked by
``lint-imports``). Two things still flow upwards, and each has one explicit shape here:

- an **Event** says that something happened (a scan was stored, a prediction was made). The
  layer that acts defines it; the layers above subscribe in their ``AppConfig.ready`` and
  act in the publisher's transaction, so a failing subscriber rolls the whole step back.
- a **Provider** answers a question the lower layer needs answered by a higher one (which
  model version is active, the site's options). The lower layer defines it; exactly one app
  above provides the answer at start-up.

Both are plain calls in the same process and thread: nothing is queued, nothing is
swallowed. A required event nobody subscribed to, or a provider nobody provides, is a
wiring mistake and raises at once instead of losing the step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")


class Event:
    """Something a layer did that layers above it act on."""

    def __init__(self, name: str, *, required: bool = False) -> None:
        self.name = name
        self.required = required
        self._handlers: list[Callable[..., Any]] = []

    def __repr__(self) -> str:
        return f"<Event {self.name}>"

    def subscribe(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``handler(**payload)`` on each publish, after those subscribed before it.
        Subscribing the same handler twice (a second ``ready()``) keeps one."""
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    def publish(self, **payload: Any) -> None:
        if self.required and not self._handlers:
            raise ImproperlyConfigured(f"Nothing subscribes to the event {self.name!r}.")
        for handler in self._handlers:
            handler(**payload)


class Provider(Generic[T]):
    """An answer a lower layer asks of a higher one: one implementation, set at start-up."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._implementation: Callable[..., T] | None = None

    def __repr__(self) -> str:
        return f"<Provider {self.name}>"

    def provide(self, implementation: Callable[..., T]) -> Callable[..., T]:
        if self._implementation not in (None, implementation):
            raise ImproperlyConfigured(f"{self.name!r} is already provided.")
        self._implementation = implementation
        return implementation

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        if self._implementation is None:
            raise ImproperlyConfigured(f"No app provides {self.name!r}.")
        return self._implementation(*args, **kwargs)


#: The site's options, the one row an admin edits (``reviews.models.SiteOptions``, provided
#: by reviews), for the layers below the worklist that read one of them: whether uploads may
#: be colour images, whether received DICOM keeps its clinical link.
site_options: Provider[Any] = Provider("core.site_options")
