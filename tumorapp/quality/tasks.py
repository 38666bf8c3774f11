from celery import shared_task
from django.db import OperationalError

from tumorapp.quality.services import quality_refresh


# Periodic and idempotent (each run rewrites whole days), so a missed beat is caught up by
# the next one; a short retry covers a database hiccup.
@shared_task(
    name="quality.refresh",
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    max_retries=2,
)
def refresh_quality(full: bool = False) -> int:
    return quality_refresh(full=full).rows
