"""Chaos: several workers, one SIGKILLed every few seconds and replaced; every scan ends with
exactly one prediction. And the same round with unsafe acknowledgements and no sweeper must
be caught losing scans, so a green run means something.

Short by default (20 scans, 3 workers, 3 kills); ``scripts/faults.sh`` runs the long round
(100 scans, a kill every 3 s, 10 kills).
"""

import pytest

from tests.faults.chaos import chaos_round, upload_scans
from tests.faults.conftest import LONG
from tests.faults.harness import Api

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCANS, KILLS = (100, 10) if LONG else (20, 3)


def test_workers_killed_every_few_seconds_lose_and_duplicate_nothing(site, bob, token_of):
    # given the site, a sweeper and three workers that each take a second per prediction
    site.env["INFERENCE_TEST_DELAY_SECONDS"] = "1"
    site.start_web()
    site.start_sweeper(site.procs.log_dir)
    for _ in range(3):
        site.start_worker()
    # when a technologist uploads the scans and a busy worker is SIGKILLed every 3 s
    scan_ids = upload_scans(Api(site.base, token_of(bob)), SCANS)
    report = chaos_round(site, scan_ids, kills=KILLS, every=3, quiet=30, deadline=600)
    print("chaos:", report.line())
    # then every scan ends with exactly one prediction: none lost, duplicated or stuck
    assert report.kills == KILLS, report.line()
    assert (report.lost, report.duplicated, report.stuck, report.failed) == (0, 0, 0, 0), (
        report.line() + "\n" + "\n".join(report.failures) + "\n" + site.procs.logs()
    )
    assert report.done == SCANS


def test_the_harness_catches_a_worker_setup_that_loses_scans(site, bob, token_of):
    # given workers that acknowledge a task on receipt, and no sweeper
    site.env["INFERENCE_TEST_DELAY_SECONDS"] = "1"
    site.start_web()
    for _ in range(2):
        site.start_worker(settings="tests.faults.unsafe_settings")
    # when a busy worker is killed twice during a short round
    scan_ids = upload_scans(Api(site.base, token_of(bob)), 8, first_seed=1000)
    report = chaos_round(
        site,
        scan_ids,
        kills=2,
        every=2,
        quiet=10,
        deadline=90,
        worker_settings="tests.faults.unsafe_settings",
    )
    print("unsafe chaos:", report.line())
    # then the count shows the killed scans stuck, never done
    assert report.kills == 2, report.line()
    assert report.stuck >= 2, report.line() + "\n" + site.procs.logs()
    assert report.done == len(scan_ids) - report.stuck
