import pytest

from tumorapp.audit.models import AuditEvent
from tumorapp.audit.services import GENESIS_HASH, audit_record, event_digest


@pytest.mark.django_db
def test_events_form_a_hash_chain(alice):
    first = audit_record(action="test.one", actor=alice, details={"n": 1})
    second = audit_record(action="test.two", actor=alice, details={"n": 2, "nested": {"a": [1, 2]}})
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    for stored in AuditEvent.objects.all():
        assert event_digest(stored) == stored.hash  # survives the database round trip
    assert second.actor_name == "alice"
    assert second.actor_role == "radiologist"
