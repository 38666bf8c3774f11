"""Give the embedded demo site a small worklist, uploaded as the demo technologist.

manage.py demo_scans [--data FOLDER] [--force]

1. Do nothing when any scan exists (the command is safe to call on every start), or when the
   data set (``<data>/Testing/<class>/*.jpg``, default REGISTRY_BASE_DATA_DIR) is absent.
2. Pick, in file-name order, the first two JPEG slices of each class of the Testing split.
3. Build one DICOM study (one series, three 16-bit MR slices carrying fake identifying
   attributes) from the next glioma slices that share one size.
4. Upload every file through ``scan_upload``, one transaction each, so validation,
   de-identification, storage, audit and the in-process prediction run as for a real upload.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from reviews.models import Case
from tumorapp.accounts.models import User
from tumorapp.scans.models import Scan, Study
from tumorapp.scans.services import UploadOutcome, scan_upload

TECHNOLOGIST = "technologist"  # made by create_demo_users
JPEGS_PER_CLASS = 2
STUDY_CLASS = "glioma_tumor"
STUDY_SLICES = 3


class Command(BaseCommand):
    help = (
        "Upload a small demo worklist (two JPEG slices per class and one three-slice DICOM "
        "study from the shared data set) as the demo technologist, when the site has no "
        "scans. Refuses to run on a PostgreSQL deployment unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            type=Path,
            default=None,
            help="data set folder with Testing/<class>/*.jpg (default: REGISTRY_BASE_DATA_DIR)",
        )
        parser.add_argument("--force", action="store_true")

    def handle(self, *args, data=None, force=False, **opts):
        if not settings.EMBEDDED and not force:
            raise CommandError("Demo scans are for the embedded site; use --force to insist.")
        if Scan.objects.exists():
            self.stdout.write("demo scans: the site already has scans; nothing uploaded")
            return
        testing = Path(data or settings.REGISTRY_BASE_DATA_DIR) / "Testing"
        classes = sorted(p for p in testing.glob("*") if p.is_dir())
        if not classes:
            self.stdout.write(
                f"demo scans: no data set at {testing.parent} (Testing/<class>/*.jpg); "
                "the worklist starts empty"
            )
            return
        technologist = User.objects.filter(username=TECHNOLOGIST).first()
        if technologist is None:
            raise CommandError(f"No user {TECHNOLOGIST!r}: run create_demo_users first.")
        uploads = [
            (f"{path.parent.name}/{path.name}", path.name, path.read_bytes())
            for folder in classes
            for path in _jpegs(folder)[:JPEGS_PER_CLASS]
        ]
        study = _study_sources(testing / STUDY_CLASS)
        for number, (source, content) in enumerate(
            zip(study, demo_study(study), strict=True), start=1
        ):
            label = f"DICOM slice {number} (from {source.parent.name}/{source.name})"
            uploads.append((label, f"IM{number:04}.dcm", content))
        for label, filename, content in uploads:
            outcome = scan_upload(uploaded_by=technologist, filename=filename, data=content)
            self.stdout.write(f"{label:48} {outcome.status:9} {_result(outcome)}")
        studies = Study.objects.count()
        waiting = Case.objects.exclude(status=Case.Status.DONE).count()
        self.stdout.write(
            f"demo scans: {Scan.objects.count()} scans ({studies} DICOM "
            f"{'study' if studies == 1 else 'studies'}), {waiting} cases on the worklist"
        )


def _jpegs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


def _study_sources(folder: Path) -> list[Path]:
    """The first slices of the class, after those uploaded as JPEG, that share one size (a
    series has one matrix); the next ones in name order when no size has enough."""
    rest = _jpegs(folder)[JPEGS_PER_CLASS:]
    by_size: dict[tuple[int, int], list[Path]] = {}
    for path in rest:
        with Image.open(path) as image:
            group = by_size.setdefault(image.size, [])
        group.append(path)
        if len(group) == STUDY_SLICES:
            return group
    return rest[:STUDY_SLICES]


def demo_study(sources: list[Path]) -> list[bytes]:
    """One MR series of 16-bit slices made from greyscale JPEGs (resized to the first one's
    size), with fake identifying attributes for the de-identification to remove."""
    if not sources:
        return []
    study_uid = generate_uid(entropy_srcs=["neurotriage demo study"])
    series_uid = generate_uid(entropy_srcs=["neurotriage demo series"])
    with Image.open(sources[0]) as first:
        size = first.size
    files = []
    for number, path in enumerate(sources, start=1):
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L").resize(size), dtype=np.uint16)
        ds = _slice_dataset(grey * 16, study_uid=study_uid, series_uid=series_uid, number=number)
        out = io.BytesIO()
        pydicom.dcmwrite(out, ds, enforce_file_format=True)
        files.append(out.getvalue())
    return files


def _slice_dataset(pixels: np.ndarray, *, study_uid: str, series_uid: str, number: int):
    """A 12-bit-stored MR slice; the header window spans the whole stored range, so the
    8-bit image the model reads matches the JPEG it came from."""
    sop_uid = generate_uid(entropy_srcs=[series_uid, str(number)])
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "MR"
    ds.Manufacturer = "DEMO"
    ds.ManufacturerModelName = "Demo MR"
    ds.MagneticFieldStrength = "1.5"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.PatientName = "Demo^Patient"
    ds.PatientID = "DEMO-0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20250101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "090000"
    ds.AccessionNumber = "DEMO-ACC-0001"
    ds.InstitutionName = "Demo General Hospital"
    ds.ReferringPhysicianName = "Demo^Referrer"
    ds.StudyDescription = "MRI brain of Demo Patient"
    ds.SeriesDescription = "T1 axial"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -100
    ds.WindowCenter = 2048 - 100
    ds.WindowWidth = 4096
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def _result(outcome: UploadOutcome) -> str:
    """What became of the upload once its prediction ran (in-process tasks run on commit)."""
    if outcome.error is not None:
        return outcome.error.message
    if outcome.scan is None:
        return ""
    scan = Scan.objects.get(pk=outcome.scan.pk)
    prediction = scan.predictions.order_by("-created_at").first()
    if prediction is None:
        return scan.get_status_display()
    return f"{scan.get_status_display()}: {prediction.label}, P(tumour) {prediction.p_tumor:.2f}"
