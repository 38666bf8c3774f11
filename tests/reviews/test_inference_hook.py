"""A stored prediction puts its scan on the worklist (the inference service's one call)."""

from types import SimpleNamespace

from reviews.models import Case
from tests.factories import InferenceRunFactory, ScanFactory
from tumorapp.inference.services import prediction_record


def result(p_tumor, label, answer=None):
    rest = round(1 - p_tumor, 6)
    return SimpleNamespace(
        model_version="m1",
        label=label,
        answer=answer or label,
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


def test_a_flagged_prediction_is_stored_with_its_tumour_answer_not_the_argmax(db):
    # given a scan whose P(tumour) 0.4 is above the threshold (0.3) while "no tumour" (0.6)
    # is the most likely of the four classes
    run = InferenceRunFactory(status="running", scan=ScanFactory(status="queued"))
    # when the prediction is recorded
    prediction = prediction_record(
        run_id=run.pk, result=result(0.4, "no_tumor", "glioma"), heatmap_key="", timings={}
    )
    # then the stored answer and the case's AI class are the tumour class, like the flag
    case = Case.objects.get(scan_id=run.scan_id)
    assert (prediction.label, prediction.tumor_suspected) == ("glioma", True)
    assert case.ai_label == "glioma"
