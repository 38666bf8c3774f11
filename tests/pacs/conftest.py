"""The department around the platform: a private Orthanc as its PACS."""

import pytest

from tests.pacs.orthanc import Orthanc, orthanc_binary


@pytest.fixture
def orthanc(tmp_path):
    """A private Orthanc on free ports and its own storage, stopped by its pid at the end.
    Its routing rule forwards to ``orthanc.platform_port`` (nothing listens there unless a
    test starts a receiver on it: see ``orthanc_for``)."""
    if orthanc_binary() is None:
        pytest.fail("Orthanc is not installed: run scripts/services.sh")
    server = Orthanc(tmp_path / "orthanc")
    server.workdir.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def orthanc_for(tmp_path):
    """Starts private Orthancs that route to a given receiver port; stops them all."""
    started: list[Orthanc] = []

    def start(*, platform_port: int, platform_aet: str = "NEUROTRIAGE") -> Orthanc:
        workdir = tmp_path / f"orthanc-{len(started)}"
        workdir.mkdir()
        server = Orthanc(workdir, platform_port=platform_port, platform_aet=platform_aet)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()
