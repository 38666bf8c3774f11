"""A DICOM study case as the receiver leaves it: slices, predictions, an open case and the
clinical link (the original identity, sealed), so a read can send its SR to the PACS."""

from __future__ import annotations

from dataclasses import dataclass, field

from reviews.models import Case
from reviews.services import case_claim, case_open_for_prediction, review_submit
from tests.factories import InferenceRunFactory, PredictionFactory, ScanFactory
from tumorapp.clinical.crypto import seal
from tumorapp.clinical.models import InstanceLink, StudyLink
from tumorapp.results.sr import new_uid
from tumorapp.scans.models import Series, Study

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


@dataclass
class Original:
    study_instance_uid: str = field(default_factory=new_uid)
    series_instance_uid: str = field(default_factory=new_uid)
    patient_id: str = "MRN-20261205"
    patient_name: str = "Doe^Jane"
    accession_number: str = "ACC-4711"
    sop_instance_uids: list[str] = field(default_factory=list)


def linked_study_case(*, slices: int = 3, p_tumors=(0.2, 0.91, 0.5)) -> tuple[Case, Original]:
    original = Original()
    study = Study.objects.create(study_uid=new_uid(), patient_key="pk-" + new_uid()[-12:])
    series = Series.objects.create(study=study, series_uid=new_uid(), modality="MR")
    StudyLink.objects.create(
        study=study,
        token=seal(
            {
                "study_uid": original.study_instance_uid,
                "patient_id": original.patient_id,
                "patient_name": original.patient_name,
                "accession_number": original.accession_number,
                "study_date": "20261205",
            }
        ),
    )
    case = None
    for number in range(slices):
        scan = ScanFactory(series=series, instance_number=number + 1, source_format="dicom")
        uid = new_uid()
        original.sop_instance_uids.append(uid)
        InstanceLink.objects.create(
            scan=scan,
            token=seal(
                {
                    "series_uid": original.series_instance_uid,
                    "sop_instance_uid": uid,
                    "sop_class_uid": MR_IMAGE,
                }
            ),
        )
        run = InferenceRunFactory(scan=scan)
        case = case_open_for_prediction(
            prediction=PredictionFactory(run=run, scan=scan, p_tumor=p_tumors[number])
        )
    case.refresh_from_db()
    return case, original


def read(case: Case, reader, label: str, reason: str = "ambiguous"):
    case = case_claim(case=case, reader=reader)
    return review_submit(
        case=case, reader=reader, label=label, reason=reason if label != case.ai_label else ""
    )
