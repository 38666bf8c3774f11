"""Per-reader queues: a case assigned to a radiologist is handed to them first and to nobody
else until a read moves it on or it is escalated; every assignment is audited."""

import pytest
from django.core.exceptions import ValidationError

from reviews import services
from reviews.models import Case, SiteOptions
from tests.factories import UserFactory
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(radiologists):
    return radiologists[0], radiologists[1]


def test_an_assigned_case_goes_to_its_reader_first_and_to_nobody_else(make_case, readers):
    ann, ben = readers
    urgent = make_case(p_tumor=0.97, label="glioma")
    routine = make_case(p_tumor=0.05, label="no_tumor")
    # when ben assigns the routine case to ann
    services.case_assign(case=routine, actor=ben, assignee=ann)
    # then ann is handed her own case before the more urgent shared one
    assert services.case_claim_next(reader=ann) == routine
    # and ben gets the shared case, then nothing (ann's case is not his)
    assert services.case_claim_next(reader=ben) == urgent
    services.case_release(case=urgent, reader=ben)
    services.case_release(case=routine, reader=ann)
    Case.objects.filter(pk=urgent.pk).update(status=Case.Status.DONE)
    assert services.case_claim_next(reader=ben) is None
    # and the assignment is audited once, with who and to whom
    event = AuditEvent.objects.get(action=Action.CASE_ASSIGNED)
    assert event.actor == ben and event.details == {
        "before": "",
        "after": ann.username,
        "status": "first_read",
    }


def test_an_escalated_assigned_case_is_anyones_and_a_read_clears_the_assignment(make_case, readers):
    ann, ben = readers
    options = SiteOptions.current()
    options.double_read_rate = 1.0
    options.save()
    case = make_case(p_tumor=0.9, label="glioma")
    services.case_assign(case=case, actor=ann, assignee=ann)
    # once escalated (waited too long), anyone may take it
    Case.objects.filter(pk=case.pk).update(priority=Case.Band.ESCALATED * 1000 + 5)
    assert services.case_claim_next(reader=ben) == case
    services.review_submit(case=Case.objects.get(pk=case.pk), reader=ben, label="glioma")
    # the read moved it on to its second read, which is everyone's again
    case.refresh_from_db()
    assert case.status == Case.Status.SECOND_READ and case.assigned_to is None


def test_only_a_reader_who_may_read_it_can_be_assigned(make_case, readers, bob):
    ann, ben = readers
    case = make_case()
    inactive = UserFactory(role=Role.RADIOLOGIST, is_active=False)
    for wrong in (bob, inactive):
        with pytest.raises(ValidationError):
            services.case_assign(case=case, actor=ann, assignee=wrong)
    # the first reader cannot take the second read of their own case
    Case.objects.filter(pk=case.pk).update(status=Case.Status.SECOND_READ, first_reader=ann)
    with pytest.raises(ValidationError):
        services.case_assign(case=case, actor=ben, assignee=ann)
    # a reported case cannot be assigned
    Case.objects.filter(pk=case.pk).update(status=Case.Status.DONE)
    with pytest.raises(ValidationError):
        services.case_assign(case=case, actor=ben, assignee=ben)
    assert not AuditEvent.objects.filter(action=Action.CASE_ASSIGNED).exists()


def test_assigning_from_the_page_and_the_api(make_case, readers, bob, client_for, api_for):
    ann, ben = readers
    case = make_case()
    url = f"/worklist/cases/{case.public_id}/"
    assert 'id="assign-form"' in client_for(ann).get(url).content.decode()
    assert client_for(bob).post(url, {"step": "assign", "assignee": ann.pk}).status_code == 403
    assert client_for(ann).post(url, {"step": "assign", "assignee": ben.pk}).status_code == 302
    case.refresh_from_db()
    assert case.assigned_to == ben
    worklist = client_for(ann).get(f"/worklist/?assigned={ben.pk}").content.decode()
    assert f"/worklist/cases/{case.public_id}/" in worklist
    api_url = f"/api/v1/reviews/cases/{case.public_id}/assign/"
    assert api_for(bob).post(api_url, {"assignee": None}, format="json").status_code == 403
    back = api_for(ann).post(api_url, {"assignee": None}, format="json")
    assert back.status_code == 200 and back.json()["assigned_to"] is None
    unknown = api_for(ann).post(api_url, {"assignee": "nobody"}, format="json")
    assert unknown.status_code == 400
    assert (
        api_for(ann).post(api_url, {"assignee": ann.username}, format="json").json()["assigned_to"]
        == ann.username
    )
