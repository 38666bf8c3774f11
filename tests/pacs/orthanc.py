"""A private Orthanc (Debian's ``orthanc`` package) for the tests: the department's PACS.

It runs the repository's configuration (docker/orthanc/orthanc.json and route.lua) on free
local ports with its own storage folder, and is stopped by the process id it was started
with. ``scripts/services.sh`` installs the package when it is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "docker" / "orthanc"
ORTHANC_AET = "ORTHANC"


def free_port() -> int:
    """A TCP port nobody listens on now (picked by the kernel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None
    )


class Orthanc:
    """One Orthanc process; ``start()`` returns once its REST API answers (Orthanc opens its
    DICOM port before its HTTP port, so the DICOM port is listening by then too)."""

    def __init__(
        self,
        workdir: Path,
        *,
        platform_aet: str = "NEUROTRIAGE",
        platform_port: int | None = None,
        aet: str = ORTHANC_AET,
    ):
        self.workdir = workdir
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.aet = aet
        self.platform_aet = platform_aet
        # Where route.lua forwards to: the receiver's port (a free one nobody listens on
        # when no receiver is wanted, so forwarding jobs simply fail).
        self.platform_port = platform_port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "orthanc.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "ORTHANC_NAME": "neurotriage-test-pacs",
            "ORTHANC_STORAGE": str(storage),
            "ORTHANC_HTTP_PORT": str(self.http_port),
            "ORTHANC_DICOM_PORT": str(self.dicom_port),
            "ORTHANC_AET": self.aet,
            "ORTHANC_REMOTE_ACCESS": "false",
            "ORTHANC_LUA_DIR": str(CONFIG_DIR),
            "PLATFORM_AET": self.platform_aet,
            "PLATFORM_HOST": "127.0.0.1",
            "PLATFORM_PORT": str(self.platform_port),
        }

    def start(self, timeout: float = 30.0) -> Orthanc:
        binary = orthanc_binary()
        if binary is None:
            raise RuntimeError("Orthanc is not installed: run scripts/services.sh")
        log = open(self.log_path, "ab")  # noqa: SIM115 - the process writes to it
        self.proc = subprocess.Popen(
            [binary, "--no-jobs", str(CONFIG_DIR / "orthanc.json")],
            cwd=self.workdir,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start:\n{self.logs()}")
            try:
                self.get("/system")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout:.0f} s:\n{self.logs()}")

    def stop(self) -> None:
        """Stop the process this object started (SIGTERM, then SIGKILL), nothing else."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # The REST API -------------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | dict | None = None):
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as response:
            payload = response.read()
        if response.headers.get_content_type() == "application/json":
            return json.loads(payload)
        return payload

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body: bytes | dict | None = None):
        return self.request("POST", path, body if body is not None else b"")

    def studies(self) -> list[dict]:
        return self.get("/studies?expand")

    def jobs(self) -> list[dict]:
        return self.get("/jobs?expand")

    def forwarding_jobs(self) -> list[dict]:
        return [j for j in self.jobs() if j.get("Type") == "DicomModalityStore"]

    def resubmit_failed_jobs(self) -> int:
        """What a PACS admin does once the receiver is back: send failed forwards again."""
        failed = [j for j in self.forwarding_jobs() if j["State"] == "Failure"]
        for job in failed:
            self.post(f"/jobs/{job['ID']}/resubmit")
        return len(failed)

    def wait_jobs_done(self, expected: int, timeout: float = 180.0) -> list[dict]:
        """Wait until ``expected`` forwarding jobs exist and none is pending or running
        (generous: a loaded machine is slow, and a fast one returns at once)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.forwarding_jobs()
            if len(jobs) >= expected and all(j["State"] in ("Success", "Failure") for j in jobs):
                return jobs
            time.sleep(0.2)
        raise TimeoutError(f"Orthanc's forwarding jobs still running:\n{self.logs()}")

    def job_errors(self) -> str:
        """Why each forwarding job that did not succeed failed (for assertion messages)."""
        return "\n".join(
            f"job {j['ID']} {j['State']}: {j.get('ErrorCode')} {j.get('ErrorDescription')} "
            f"{j.get('ErrorDetails', '')} (created {j.get('CreationTime')})"
            for j in self.forwarding_jobs()
            if j["State"] != "Success"
        )
