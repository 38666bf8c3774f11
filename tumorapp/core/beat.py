"""The embedded site's beat: with no broker there is no ``celery beat`` process, so the
periodic tasks of CELERY_BEAT_SCHEDULE (the inference sweeper, escalation, the quality
roll-ups, the storage sweep) are sent from a thread of the serving process, on the same
schedule, through ``tumorapp.core.queue`` (long ones run on its background threads)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from celery import current_app
from django.db import close_old_connections

from tumorapp.core.queue import enqueue

logger = logging.getLogger(__name__)


class EmbeddedBeat(threading.Thread):
    """Sends each entry when it is due: at start, then every ``schedule`` seconds."""

    def __init__(
        self,
        schedule: Mapping[str, Mapping],
        *,
        send: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="embedded-beat", daemon=True)
        self.every = {entry["task"]: float(entry["schedule"]) for entry in schedule.values()}
        self.next_at = dict.fromkeys(self.every, clock())
        self.send = send or send_task
        self.clock = clock
        self.stopped = threading.Event()

    def tick(self) -> list[str]:
        """Send every entry that is due now; returns their names."""
        now = self.clock()
        due = [name for name, at in self.next_at.items() if at <= now]
        for name in due:
            self.next_at[name] = now + self.every[name]
            try:
                self.send(name)
            except Exception:
                logger.exception("embedded beat: sending %s failed", name)
        return due

    def run(self) -> None:
        while not self.stopped.is_set():
            self.tick()
            wait = min(self.next_at.values()) - self.clock()
            self.stopped.wait(max(1.0, wait))

    def stop(self) -> None:
        self.stopped.set()


def send_task(name: str) -> None:
    # The project's Celery app (tumorapp.celery, loaded with Django) is the current one.
    current_app.loader.import_default_modules()
    close_old_connections()
    # Outside any transaction on_commit sends at once.
    enqueue(current_app.tasks[name])
