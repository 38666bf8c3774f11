"""Start-up checks of a Celery worker that consumes the ``training`` queue.

Training replays the base data by default and comparisons use its Testing split, so a
training worker without ``REGISTRY_BASE_DATA_DIR`` on disk says so when it starts, with what
to do, instead of failing each job later. Web processes never send this signal.
"""

from __future__ import annotations

import logging

from celery.signals import celeryd_after_setup

from tumorapp.registry.training import base_data_problem

logger = logging.getLogger(__name__)

TRAINING_QUEUE = "training"


def consumes_training(instance) -> bool:
    """Whether the worker being set up listens on the training queue (``-Q`` is applied by
    the time ``celeryd_after_setup`` is sent)."""
    return TRAINING_QUEUE in instance.app.amqp.queues.consume_from


@celeryd_after_setup.connect
def check_base_data(sender=None, instance=None, **kwargs) -> str | None:
    if instance is None or not consumes_training(instance):
        return None
    problem = base_data_problem()
    if problem:
        logger.error("Training worker %s: %s", sender, problem)
    return problem
