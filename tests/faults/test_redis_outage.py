"""The broker goes away in the middle of a stream of uploads and comes back empty (a private
redis-server without persistence, so every queued message is lost with it). No accepted
upload may be lost: each is predicted once the broker is back, sent again by the sweeper;
an upload during the outage is either accepted (and predicted later) or refused with 503.
"""

import threading
import time

import pytest
import requests

from tests.faults.chaos import Report, count
from tests.faults.harness import Api, wait_until
from tests.tumorapp.scans import images
from tumorapp.inference.models import InferenceRun

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


class Uploader(threading.Thread):
    """Uploads one scan every ``pause`` seconds and files each answer."""

    def __init__(self, api: Api, total: int, pause: float):
        super().__init__(daemon=True)
        self.api, self.total, self.pause = api, total, pause
        self.accepted: list[str] = []
        self.refused: list[str] = []  # 503 messages
        self.other: list[str] = []
        self.slowest = 0.0

    def run(self):
        for seed in range(self.total):
            started = time.monotonic()
            try:
                response = self.api.upload(
                    f"r-{seed}.jpg", images.jpeg_bytes(96, 96, seed=500 + seed)
                )
            except requests.RequestException as exc:
                self.other.append(f"{seed}: {exc}")
            else:
                self.slowest = max(self.slowest, time.monotonic() - started)
                if response.status_code == 201:
                    self.accepted.append(response.json()["results"][0]["scan"]["id"])
                elif response.status_code == 503:
                    self.refused.append(response.json()["error"]["message"])
                else:
                    self.other.append(f"{seed}: {response.status_code} {response.text[:300]}")
            time.sleep(self.pause)


def test_a_broker_restart_mid_stream_loses_no_accepted_upload(site, private_redis, bob, token_of):
    # given the site, a sweeper and two workers
    site.start_web()
    site.start_sweeper(site.procs.log_dir)
    site.start_worker()
    site.start_worker()
    uploader = Uploader(Api(site.base, token_of(bob)), total=30, pause=0.3)
    # when Redis dies after a few uploads and comes back empty five seconds later
    uploader.start()
    wait_until(lambda: len(uploader.accepted) >= 5, timeout=60, what="the first uploads")
    private_redis.stop()
    outage_started = time.monotonic()
    time.sleep(5)
    private_redis.start()
    outage = time.monotonic() - outage_started
    uploader.join(timeout=180)
    # then every upload was either accepted or refused with a clear 503, nothing else
    assert not uploader.is_alive()
    assert uploader.other == [], uploader.other
    assert all("try again" in m.lower() for m in uploader.refused), uploader.refused
    # and every accepted upload is predicted exactly once, by itself, after the outage
    wait_until(
        lambda: (
            not InferenceRun.objects.filter(
                scan__public_id__in=uploader.accepted,
                status__in=(InferenceRun.Status.QUEUED, InferenceRun.Status.RUNNING),
            ).exists()
        ),
        timeout=120,
        what="the accepted uploads to be predicted",
        logs=site.procs.logs,
    )
    report = count(uploader.accepted, Report(uploaded=len(uploader.accepted)))
    print(
        f"redis outage {outage:.1f} s: accepted {len(uploader.accepted)}, "
        f"refused 503 {len(uploader.refused)}, slowest answer {uploader.slowest:.2f} s;",
        report.line(),
    )
    assert report.done == len(uploader.accepted) >= 5, report.failures
    assert len(uploader.accepted) + len(uploader.refused) == 30
    # and no upload waited on the dead broker for long
    assert uploader.slowest < 10
