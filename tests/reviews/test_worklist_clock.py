"""The worklist's "Waiting" clock stops when a case is reported (issue 18 point 11)."""

from django.utils import timezone

from reviews.models import Case


def test_a_reported_case_clock_is_stopped(make_case, alice, client_for):
    case = make_case(p_tumor=0.1, label="no_tumor")
    Case.objects.filter(pk=case.pk).update(
        status=Case.Status.DONE, final_label="no_tumor", decided_at=timezone.now()
    )
    html = client_for(alice).get("/worklist/?status=done").content.decode()
    row = html.split('<tr class="band-')[1].split("</tr>")[0]
    assert "data-opened-at" not in row and "stopped" in row
