import os

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.faults.harness import PrivateRedis, Processes, Site, collect_static, site_env

#: ``scripts/faults.sh`` sets FAULTS_SCALE=long: the chaos round of the reliability checklist
#: (100 scans, one worker killed every few seconds). The normal test run keeps it short.
LONG = os.environ.get("FAULTS_SCALE") == "long"


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    return collect_static(tmp_path_factory.mktemp("static"))


@pytest.fixture
def procs(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    pool = Processes(logs)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def private_redis(procs):
    server = PrivateRedis(procs)
    server.start()
    return server


@pytest.fixture
def site(procs, private_redis, static_root, tmp_path, transactional_db):
    """The site (gunicorn, workers, sweeper) against the pytest database and a private Redis."""
    db = connection.settings_dict
    media = tmp_path / "media"
    media.mkdir()
    env = site_env(
        database_url=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        broker_url=private_redis.url,
        media_root=media,
        static_root=static_root,
    )
    return Site(procs, env)


@pytest.fixture
def token_of():
    def token(user) -> str:
        return Token.objects.get_or_create(user=user)[0].key

    return token
