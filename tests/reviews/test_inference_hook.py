"""A stored prediction puts its scan on the worklist (the inference service's one call)."""

from types import SimpleNamespace

from reviews.models import Case
from tests.factories import InferenceRunFactory, ScanFactory
from tumorapp.inference.services import prediction_record


def result(p_tumor, label):
    rest = round(1 - p_tumor, 6)
    return SimpleNamespace(
        model_version="m1",
        label=label,
        probabilities={"glioma": p_tumor, "meningioma": 0.0, "pituitary": 0.0, "no_tumor": rest},
        p_tumor=p_tumor,
        tumor_suspected=p_tumor >= 0.3,
        ood=False,
        ood_score=0.1,
        ood_reasons=[],
    )


def test_recording_a_prediction_opens_a_case_in_triage_order(db):
    # given two scans being predicted
    routine = InferenceRunFactory(status="running", scan=ScanFactory(status="queued"))
    urgent = InferenceRunFactory(status="running", scan=ScanFactory(status="queued"))
    # when their predictions are recorded
    prediction_record(
        run_id=routine.pk, result=result(0.05, "no_tumor"), heatmap_key="", timings={}
    )
    prediction_record(run_id=urgent.pk, result=result(0.96, "glioma"), heatmap_key="", timings={})
    # then both are on the worklist, the suspected tumour first
    order = list(Case.objects.order_by("priority", "opened_at"))
    assert [c.scan_id for c in order] == [urgent.scan_id, routine.scan_id]
    assert order[0].status == Case.Status.FIRST_READ and order[0].ai_label == "glioma"
