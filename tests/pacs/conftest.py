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


@pytest.fixture
def media_dir(settings, tmp_path):
    """The files of this test, shared with the processes it starts."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root, "file_permissions_mode": 0o640},
        },
    }
    return root


@pytest.fixture
def platform(media_dir, tmp_path):
    """Starts the platform's processes (receiver, worker) for a transactional test; stops
    them all, and empties the test broker, at the end."""
    import redis
    from django.conf import settings

    from tests.pacs.processes import Processes

    logs = tmp_path / "logs"
    logs.mkdir()
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()
    processes = Processes(media_dir, logs)
    try:
        yield processes
    finally:
        processes.stop_all()
        broker.flushdb()
