"""The department's PACS (a private Orthanc: tests/pacs/orthanc.py) as results destination."""

import pytest

from tests.pacs.orthanc import Orthanc, orthanc_binary
from tumorapp.results.scu import Destination


def destination_of(server: Orthanc) -> Destination:
    return Destination(ae_title=server.aet, host="127.0.0.1", port=server.dicom_port)


def instances_of_study(server: Orthanc, study_instance_uid: str) -> list[dict]:
    """The instances Orthanc holds in the study with this Study Instance UID (REST API)."""
    found = server.post("/tools/lookup", study_instance_uid.encode())
    study = next((f["ID"] for f in found if f["Type"] == "Study"), None)
    return [] if study is None else server.get(f"/studies/{study}/instances")


def tags_of(server: Orthanc, instance: dict) -> dict:
    return server.get(f"/instances/{instance['ID']}/simplified-tags")


@pytest.fixture
def orthanc(tmp_path):
    if orthanc_binary() is None:
        pytest.fail("Orthanc is not installed: run scripts/services.sh")
    server = Orthanc(tmp_path / "orthanc")
    server.workdir.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()
