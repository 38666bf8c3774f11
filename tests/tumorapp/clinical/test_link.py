"""The clinical link: a study received over DICOM keeps its hospital identity encrypted at
rest, radiologists see accession number, patient ID and study date (audited each time), the
data team's exports, pages and API never see any of it, and a site can turn it off."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from reviews.models import Case, SiteOptions
from tests.pacs import modality
from tests.tumorapp.datasets.reviewed import read, single_reads_only
from tests.tumorapp.datasets.test_services import _export, _zip
from tests.tumorapp.test_settings import ROOT
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.clinical.models import InstanceLink, StudyLink
from tumorapp.clinical.selectors import case_identity, case_pacs_references
from tumorapp.pacs.services import instance_receive, received_studies_finalise

pytestmark = pytest.mark.django_db


@pytest.fixture
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


def receive(study: modality.Study, capture) -> Case:
    """Receive every instance as the receiver does, let the study go quiet, predict it."""
    for ds in study.instances:
        received = instance_receive(
            association_id=None,
            sop_class_uid=ds.SOPClassUID,
            sop_instance_uid=ds.SOPInstanceUID,
            data=modality.part10(ds),
        )
        assert received.status == 0, received.record.reason
    with capture(execute=True):
        assert received_studies_finalise(now=timezone.now() + timedelta(hours=1)) == 1
    return Case.objects.get()


@pytest.fixture
def study():
    return modality.mr_study(seed=9, series=2, slices_per_series=2, size=64)


@pytest.fixture
def case(media_dir, study, django_capture_on_commit_callbacks):
    return receive(study, django_capture_on_commit_callbacks)


def identifiers(study) -> list[str]:
    return [study.patient_name, study.patient_id, study.accession, study.study_uid]


def test_the_link_is_encrypted_at_rest_and_gives_back_the_original_uids(case, study):
    # then the tables hold ciphertext only
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT token FROM clinical_studylink UNION ALL SELECT token FROM clinical_instancelink"
        )
        tokens = " ".join(row[0] for row in cursor.fetchall())
    assert StudyLink.objects.count() == 1 and InstanceLink.objects.count() == 4
    for value in [*identifiers(study), *study.sop_uids, "Scanner"]:
        assert value not in tokens
    # and the results path gets the original study and the key slice's own UIDs back
    refs = case_pacs_references(case)
    key = next(ds for ds in study.instances if ds.SOPInstanceUID == refs.sop_instance_uid)
    assert refs.study_instance_uid == study.study_uid
    assert refs.series_instance_uid == key.SeriesInstanceUID
    assert refs.sop_class_uid == "1.2.840.10008.5.1.4.1.1.4"
    assert (refs.accession_number, refs.patient_id) == (study.accession, study.patient_id)
    assert case.study.study_uid != study.study_uid  # the research side stays de-identified


def test_radiologists_see_accession_patient_and_date_and_each_view_is_audited(
    case, study, alice, client_for
):
    client = client_for(alice)
    views = AuditEvent.objects.filter(action=Action.CLINICAL_LINK_VIEWED)
    # when the radiologist opens the worklist, then the case
    worklist = client.get("/worklist/")
    page = client.get(f"/worklist/cases/{case.public_id}/")
    assert worklist.status_code == page.status_code == 200
    worklist, page = worklist.content.decode(), page.content.decode()
    # then both show the accession number, the patient ID and the study date
    for html in (worklist, page):
        assert study.accession in html and study.patient_id in html and "2026-04-05" in html
        assert study.patient_name not in html
    # and each showing is one audit event naming the case
    assert views.count() == 2
    assert all(str(case.public_id) in e.details["cases"] for e in views)
    assert {e.details["where"] for e in views} == {"worklist", "case"}


def test_the_data_team_never_sees_an_original_identifier(
    case, study, alice, dave, api_for, client_for, django_capture_on_commit_callbacks, caplog
):
    # given the case read and exported
    single_reads_only()
    read(case, alice, case.ai_label)
    export = _export(dave, django_capture_on_commit_callbacks)
    # then neither the zip (images, DICOM, manifests, card) nor the data team's pages and
    # API hold the patient's name, ID, accession or the original study UID
    zf = _zip(export)
    blobs = {name: zf.read(name) for name in zf.namelist()}
    assert any(name.endswith(".jsonl") for name in blobs)
    api = api_for(dave)
    pages = [
        api.get("/api/v1/datasets/"),
        api.get(f"/api/v1/datasets/{export.public_id}/"),
        client_for(dave).get("/datasets/"),
        client_for(dave).get(f"/datasets/{export.public_id}/"),
    ]
    assert [r.status_code for r in pages] == [200] * 4
    responses = [r.content for r in pages]
    for value in identifiers(study):
        needle = value.encode()
        for name, blob in blobs.items():
            assert needle not in blob, (value, name)
        for body in responses:
            assert needle not in body, value
    # and none of it was logged while it was received and exported
    for value in identifiers(study):
        assert value not in caplog.text


def test_a_site_that_turns_the_link_off_keeps_nothing(
    media_dir, study, alice, client_for, django_capture_on_commit_callbacks
):
    # given the site option off
    options = SiteOptions.current()
    options.clinical_link = False
    options.save()
    # when a study is received
    case = receive(study, django_capture_on_commit_callbacks)
    # then nothing links it back: de-identified as an upload is
    assert not StudyLink.objects.exists() and not InstanceLink.objects.exists()
    assert case_identity(case) is None and case_pacs_references(case) is None
    worklist = client_for(alice).get("/worklist/")
    assert worklist.status_code == 200 and str(case.public_id) in worklist.content.decode()
    assert study.accession not in worklist.content.decode()
    assert not AuditEvent.objects.filter(action=Action.CLINICAL_LINK_VIEWED).exists()


def _start(env_overrides: dict[str, str]):
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "STORAGE_", "CLINICAL_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tumorapp.settings.production",
            "TUMORAPP_VAR_DIR": "/tmp/tumorapp-settings-test",
            "DJANGO_ALLOWED_HOSTS": "x",
            "DJANGO_SECRET_KEY": "s" * 60,
            "DEID_SECRET": "d" * 40,
        }
    )
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("key", [None, "not-a-fernet-key"])
def test_production_requires_a_valid_link_key(key):
    result = _start({} if key is None else {"CLINICAL_LINK_KEY": key})
    assert result.returncode != 0 and "started" not in result.stdout
    assert "CLINICAL_LINK_KEY:" in result.stderr


def test_production_starts_with_a_fernet_key():
    from cryptography.fernet import Fernet

    result = _start({"CLINICAL_LINK_KEY": Fernet.generate_key().decode()})
    assert result.returncode == 0, result.stderr[-2000:]
