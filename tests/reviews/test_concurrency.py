"""Twenty readers pressing "next case" at the same instant, over real PostgreSQL."""

import threading

import pytest
from django.db import connection

from reviews import services
from reviews.models import Case, Review, SiteOptions
from tests.factories import PredictionFactory, UserFactory
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.audit.selectors import chain_verify

READERS = 20


def all_at_once(readers, action):
    """Run action(reader) in one thread per reader, each on its own connection, together."""
    barrier = threading.Barrier(len(readers))
    results, errors = {}, []

    def run(reader):
        try:
            barrier.wait(timeout=30)
            results[reader.pk] = action(reader)
        except Exception as error:  # collected and re-raised by the test thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(r,)) for r in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_readers_at_once_each_get_a_different_case():
    # given 25 waiting cases, 20 radiologists, every case sampled for double reading
    assert connection.vendor == "postgresql"
    options = SiteOptions.current()
    options.double_read_rate = 1.0
    options.save()
    for i in range(25):
        services.case_open_for_prediction(prediction=PredictionFactory(p_tumor=0.5 + i / 100))
    readers = [UserFactory(username=f"rad{i}", role=Role.RADIOLOGIST) for i in range(READERS)]

    # when all 20 ask for the next case at the same instant
    claimed = all_at_once(readers, lambda r: services.case_claim_next(reader=r))

    # then each holds a case, and no two hold the same one
    ids = [case.pk for case in claimed.values()]
    assert len(ids) == READERS and None not in ids
    assert len(set(ids)) == READERS
    for reader_pk, case in claimed.items():
        assert Case.objects.get(pk=case.pk).claimed_by_id == reader_pk

    # when all of them submit their read at once, and then ask for the next case again
    def read_then_next(reader):
        services.review_submit(case=claimed[reader.pk], reader=reader, label="glioma")
        return services.case_claim_next(reader=reader)

    second = all_at_once(readers, read_then_next)

    # then every case has at most one first read, and nobody got a second read of their own
    first_reads = Review.objects.filter(kind=Review.Kind.FIRST)
    assert first_reads.count() == READERS
    assert len(set(first_reads.values_list("case_id", flat=True))) == READERS
    handed = [case for case in second.values() if case is not None]
    assert len({case.pk for case in handed}) == len(handed)
    for reader_pk, case in second.items():
        if case is not None:
            assert Case.objects.get(pk=case.pk).first_reader_id != reader_pk

    # and the audit chain took every claim and read, appended at once, without a fork
    claims = AuditEvent.objects.filter(action=Action.CASE_CLAIMED).count()
    assert claims == READERS + len(handed)
    assert AuditEvent.objects.filter(action=Action.REVIEW_SUBMITTED).count() == READERS
    report = chain_verify()
    assert report.ok, report.reason
    assert report.checked == AuditEvent.objects.count()
