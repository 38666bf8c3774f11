"""A scan that kills its worker every time is given up after three deliveries, with the
reason, while the scans uploaded around it keep flowing through the same workers."""

import pytest

from tests.faults.chaos import Report, count, upload_scans
from tests.faults.harness import Api, wait_until
from tests.faults.poison import POISON_WIDTH
from tests.tumorapp.scans import images
from tumorapp.inference.models import InferenceRun, Prediction
from tumorapp.scans.models import Scan

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_poison_scan_fails_after_three_deliveries_and_the_others_flow(site, bob, token_of):
    # given two prefork workers (the parent replaces a dead child) and the sweeper
    site.env["INFERENCE_PREDICTOR"] = "tests.faults.poison.PoisonPredictor"
    site.start_web()
    site.start_sweeper(site.procs.log_dir)
    site.start_worker(pool="prefork")
    site.start_worker(pool="prefork")
    api = Api(site.base, token_of(bob))
    # when a poison scan is uploaded between ordinary ones
    before = upload_scans(api, 5, first_seed=2000)
    poison = api.upload("poison.jpg", images.jpeg_bytes(POISON_WIDTH, 96, seed=1))
    assert poison.status_code == 201, poison.text
    poison_id = poison.json()["results"][0]["scan"]["id"]
    after = upload_scans(api, 5, first_seed=3000)
    # then the poison run is given up after three attempts, with the reason
    run = wait_until(
        lambda: InferenceRun.objects.filter(
            scan__public_id=poison_id, status=InferenceRun.Status.FAILED
        ).first(),
        timeout=120,
        what="the poison run to be given up",
        logs=site.procs.logs,
    )
    assert run.attempts == 3, run.error
    assert "Gave up after 3 attempts" in run.error
    scan = Scan.objects.get(public_id=poison_id)
    assert scan.status == Scan.Status.FAILED and "Gave up" in scan.status_reason
    assert not Prediction.objects.filter(scan=scan).exists()
    # and every other scan was predicted exactly once
    wait_until(
        lambda: count(before + after, Report()).done == 10,
        timeout=60,
        what="the other scans",
        logs=site.procs.logs,
    )
    # and the queue drains: no fourth delivery is left waiting
    wait_until(lambda: site_queue_length(site) == 0, timeout=20, what="the queue to drain")


def site_queue_length(site) -> int:
    import redis

    return redis.Redis.from_url(site.env["CELERY_BROKER_URL"]).llen("inference")
