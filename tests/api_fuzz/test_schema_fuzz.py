"""The API fuzzed from its own OpenAPI schema (schemathesis): every operation, called as each
role with token auth, must never answer 5xx and every answer must match the schema.

In-process (WSGI) against the pytest database, with a few examples per operation so the
whole file stays around a minute or two; FUZZ_EXAMPLES raises it for a longer run.
"""

import json
import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi import checks

from tests.factories import PredictionFactory, UserFactory
from tumorapp.accounts.roles import Role
from tumorapp.wsgi import application

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
ROLES = (Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.ADMIN, Role.DATA_TEAM)
EXCLUDED = [
    # The role's token goes in an explicit header, so schemathesis also generates a session
    # cookie and then takes the token's success for "a made-up cookie was accepted". Refusal
    # of anonymous and wrong-role callers is tested route by route in tests/tumorapp/accounts.
    checks.ignored_auth,
    # Schema-valid is not always acceptable: an upload must hold a real image, a review
    # needs a claimed case. Those rules are the services', tested where they live.
    checks.positive_data_acceptance,
    # And the other way: query parameters are read leniently (an empty or malformed
    # page_size or date falls back to the default, as DRF's pagination does), so a
    # schema-violating query may still be answered 200. docs/reliability.md says so.
    checks.negative_data_rejection,
]


def _schema():
    """The schema /api/schema/ serves, built without a request (and so without the database)."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(generated)))
    loaded.app = application  # calls go straight to the WSGI app
    return loaded


schema = _schema()


@pytest.fixture
def in_process_requests(db):
    # Requests run inside the test's transaction: keep Django from closing that connection
    # at the end of each request, as its own test client does.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db):
    """One user per role with a token, and a predicted case so list endpoints have rows."""
    from reviews.services import case_open_for_prediction

    case_open_for_prediction(prediction=PredictionFactory(p_tumor=0.8))
    return {
        role: Token.objects.create(user=UserFactory(username=f"fuzz-{role}", role=role)).key
        for role in ROLES
    }


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_operation_fails_or_breaks_its_schema(case, tokens, settings, in_process_requests):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        # Fuzzing is many requests from one user: the throttles are for people.
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(("upload", "login", "user"), "100000/min"),
    }
    # The same generated request is sent as each role: owners and outsiders alike.
    for role in ROLES:
        case.call_and_validate(
            headers={"Authorization": f"Token {tokens[role]}"}, excluded_checks=EXCLUDED
        )
