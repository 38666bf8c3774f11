from celery import shared_task
from django.db import OperationalError

from reviews.services import cases_escalate


# Periodic and idempotent: a missed or failed beat is simply caught up by the next one, so a
# short retry on a database hiccup is enough.
@shared_task(
    name="reviews.escalate_cases",
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    max_retries=2,
)
def escalate_cases() -> int:
    return cases_escalate()
