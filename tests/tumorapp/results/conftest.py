"""A private Orthanc (Debian's package) on free local ports, the department's PACS here."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from tumorapp.results.scu import Destination


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orthanc:
    def __init__(self, workdir):
        self.workdir = workdir
        self.http_port = _free_port()
        self.dicom_port = _free_port()
        self.ae_title = "ORTHANC"
        self.process = None
        config = {
            "Name": "neurotriage-test-pacs",
            "StorageDirectory": str(workdir / "storage"),
            "IndexDirectory": str(workdir / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.ae_title,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": True,
            "Plugins": [],
            "HttpServerEnabled": True,
            "DicomServerEnabled": True,
        }
        self.config = workdir / "orthanc.json"
        self.config.write_text(json.dumps(config))

    @property
    def destination(self) -> Destination:
        return Destination(ae_title=self.ae_title, host="127.0.0.1", port=self.dicom_port)

    def start(self) -> None:
        with open(self.workdir / "orthanc.log", "ab") as log:
            self.process = subprocess.Popen(
                [shutil.which("Orthanc"), str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.get("/system")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Orthanc did not start: {(self.workdir / 'orthanc.log').read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None

    def get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as r:
            return json.loads(r.read())

    def find_study(self, study_instance_uid: str) -> str | None:
        found = self.get_post("/tools/lookup", study_instance_uid)
        return next((f["ID"] for f in found if f["Type"] == "Study"), None)

    def get_post(self, path: str, body: str):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=body.encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    def instances_of_study(self, study_instance_uid: str) -> list[dict]:
        study = self.find_study(study_instance_uid)
        if study is None:
            return []
        return self.get(f"/studies/{study}/instances")

    def tags(self, orthanc_id: str) -> dict:
        return self.get(f"/instances/{orthanc_id}/simplified-tags")


@pytest.fixture
def orthanc(tmp_path):
    if shutil.which("Orthanc") is None:
        pytest.fail("Orthanc is not installed: run scripts/services.sh")
    server = Orthanc(tmp_path)
    server.start()
    yield server
    server.stop()
