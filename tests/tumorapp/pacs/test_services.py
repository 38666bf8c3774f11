"""The receiver's services without the network: an instance is stored once (the database
says so), a study waits for its quiet period, late instances join the open case or open a
follow-up once it was read, and what is not read here is refused with a reason."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from reviews.models import Case
from tests.pacs import modality
from tests.tumorapp.datasets.reviewed import read, single_reads_only
from tumorapp.audit.services import audit_chain_lock
from tumorapp.pacs.models import ReceivedInstance, ReceivedStudy
from tumorapp.pacs.services import instance_receive, received_studies_finalise
from tumorapp.scans.models import Scan

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_dir(settings, tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root},
        },
    }
    return root


def send(instances):
    return [
        instance_receive(
            association_id=None,
            sop_class_uid=ds.SOPClassUID,
            sop_instance_uid=ds.SOPInstanceUID,
            data=modality.part10(ds),
        )
        for ds in instances
    ]


def later(seconds: float = 3600):
    return timezone.now() + timedelta(seconds=seconds)


@pytest.fixture
def study():
    return modality.mr_study(seed=11, series=2, slices_per_series=2, size=64)


def test_a_study_is_held_until_quiet_then_its_slices_are_queued_once(
    study, settings, django_capture_on_commit_callbacks
):
    settings.DICOM_STUDY_QUIET_SECONDS = 60
    # given a study just received
    assert [r.status for r in send(study.instances)] == [0] * 4
    scans = Scan.objects.all()
    assert scans.count() == 4 and not scans.filter(runs__isnull=False).exists()
    # when the quiet period has not passed, nothing happens
    assert received_studies_finalise() == 0
    # when it has, its slices are predicted and it is one case; a second pass does nothing
    with django_capture_on_commit_callbacks(execute=True):
        assert received_studies_finalise(now=later(61)) == 1
    assert received_studies_finalise(now=later(120)) == 0
    assert Scan.objects.filter(status=Scan.Status.PREDICTED).count() == 4
    assert Case.objects.count() == 1
    assert not ReceivedStudy.objects.get().is_receiving


def test_the_database_refuses_a_second_stored_copy_of_an_instance(study):
    [first] = send(study.instances[:1])
    with pytest.raises(IntegrityError), transaction.atomic():
        ReceivedInstance.objects.create(
            status=ReceivedInstance.Status.STORED, sop_key=first.record.sop_key
        )
    # and a resent copy is acknowledged, recorded as a duplicate, not stored
    [again] = send(study.instances[:1])
    assert again.status == 0 and again.record.status == ReceivedInstance.Status.DUPLICATE
    assert again.record.scan_id == first.record.scan_id
    assert Scan.objects.count() == 1


def test_late_instances_join_the_open_case_then_open_a_follow_up_once_read(
    study, alice, django_capture_on_commit_callbacks
):
    single_reads_only()
    capture = django_capture_on_commit_callbacks
    first_series, second_series = study.instances[:2], study.instances[2:]
    # given the first series received and become a case
    send(first_series[:1])
    with capture(execute=True):
        received_studies_finalise(now=later())
    [case] = Case.objects.all()
    # when a late slice of it arrives while the case waits for its read
    send(first_series[1:])
    assert ReceivedStudy.objects.get().is_receiving
    with capture(execute=True):
        received_studies_finalise(now=later(7200))
    # then it joins the open case
    assert Case.objects.count() == 1
    assert Scan.objects.filter(series__study=case.study, status=Scan.Status.PREDICTED).count() == 2
    # when the case is read and another series arrives later
    read(case, alice, case.ai_label)
    send(second_series)
    with capture(execute=True):
        received_studies_finalise(now=later(10800))
    # then a follow-up case opens for the study; the reported one keeps its read
    cases = Case.objects.filter(study=case.study).order_by("opened_at")
    assert [c.status for c in cases] == [Case.Status.DONE, Case.Status.FIRST_READ]


@pytest.mark.parametrize(
    ("make", "code", "status"),
    [
        (modality.ct_instance, "sop_class_not_accepted", 0x0122),
        (modality.secondary_capture_burned_in, "sop_class_not_accepted", 0x0122),
        (modality.malformed_mr, None, 0xC000),
    ],
)
def test_what_is_not_read_here_is_refused_with_a_reason_and_nothing_stored(
    study, make, code, status
):
    [received] = send([make(study)])
    assert received.status == status
    assert received.record.status == ReceivedInstance.Status.REFUSED and received.record.reason
    assert code is None or received.record.reason_code == code
    assert not Scan.objects.exists() and not ReceivedStudy.objects.exists()


def test_an_instance_over_the_size_limit_is_refused_before_parsing(study, settings):
    settings.DICOM_RECEIVER_MAX_INSTANCE_BYTES = 2048
    [received] = send(study.instances[:1])
    assert received.status == 0xA700 and received.record.reason_code == "too_large"
    assert not Scan.objects.exists()


def _waiting_on_advisory_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_finaliser_waits_for_a_storing_instance_instead_of_deadlocking_with_it(study, settings):
    """A storing instance takes the audit chain's lock (its upload's event) and then its
    study's row; the finaliser must take them in the same order. The other way round,
    PostgreSQL broke the cycle by failing the store, answered 0xA700 to the PACS (a
    forward the PACS admin had to resend)."""
    settings.DICOM_STUDY_QUIET_SECONDS = 60
    assert [r.status for r in send(study.instances[:1])] == [0]
    [received] = ReceivedStudy.objects.all()
    store_holds_the_chain = threading.Event()
    errors: list[BaseException] = []
    finalised: list[int] = []

    def storing():  # what _store does, its upload's audit event and then the study's row
        try:
            with transaction.atomic():
                audit_chain_lock()
                store_holds_the_chain.set()
                deadline = time.monotonic() + 30
                while not _waiting_on_advisory_locks():  # the finaliser is at the chain lock
                    assert time.monotonic() < deadline, "the finaliser never ran"
                    time.sleep(0.05)
                ReceivedStudy.objects.select_for_update().get(pk=received.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def finalising():
        try:
            assert store_holds_the_chain.wait(30)
            finalised.append(received_studies_finalise(now=later(61)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=storing), threading.Thread(target=finalising)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    # then neither failed (no "deadlock detected"), and the study was finalised once
    assert errors == [] and finalised == [1], errors
    assert not ReceivedStudy.objects.get().is_receiving
