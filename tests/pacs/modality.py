"""A modality simulator: builds realistic MR studies with pydicom and sends them with
C-STORE (pynetdicom), as a scanner or a PACS would.

A study is several series of 16-bit MR slices whose pixels come from the shared data set's
real JPEG slices (generated ones when the data set is absent), carrying the patient's name
and ID, an accession number, the study date and the acquisition facts a scanner writes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)
from pynetdicom import AE, build_context
from pynetdicom.sop_class import Verification

from tests.tumorapp.scans.images import real_slice

SCANNER_AET = "MR_SCANNER_1"


@dataclass
class Study:
    """The identifiers a department knows a study by, and its instances."""

    patient_name: str
    patient_id: str
    accession: str
    study_date: str
    study_uid: str
    instances: list[Dataset] = field(default_factory=list)

    @property
    def series_uids(self) -> list[str]:
        return list(dict.fromkeys(ds.SeriesInstanceUID for ds in self.instances))

    @property
    def sop_uids(self) -> list[str]:
        return [ds.SOPInstanceUID for ds in self.instances]


def _pixels(index: int, size: int) -> np.ndarray:
    """A real slice as 12-bit MR values (the JPEG's grey levels times 16)."""
    _, data = real_slice(index)
    grey = Image.open(io.BytesIO(data)).convert("L").resize((size, size), Image.BILINEAR)
    return np.asarray(grey, dtype=np.uint16) * 16


def _base(sop_class: str, *, study: Study, series_uid: str) -> Dataset:
    sop_uid = generate_uid()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.AccessionNumber = study.accession
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "093000"
    ds.StudyID = "1"
    ds.ReferringPhysicianName = "Referrer^Rhona"
    ds.InstitutionName = "Simulated General Hospital"
    ds.StudyDescription = f"MRI brain {study.patient_name}"
    return ds


def _image(ds: Dataset, pixels: np.ndarray) -> Dataset:
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def mr_study(
    *,
    seed: int = 0,
    series: int = 2,
    slices_per_series: int = 10,
    size: int = 128,
    patient_name: str = "Scanner^Patricia^M",
    patient_id: str = "PID-20260405-77",
    accession: str = "ACC-SIM-0001",
    study_date: str = "20260405",
) -> Study:
    """A brain MR study: ``series`` series (T1, FLAIR, ...) of ``slices_per_series`` axial
    slices each, with positions, spacing, windows and a scanner's acquisition facts."""
    study = Study(patient_name, patient_id, accession, study_date, generate_uid())
    descriptions = ["AX T1", "AX FLAIR", "AX T2", "AX DWI"]
    frame_of_reference = generate_uid()
    for s in range(series):
        series_uid = generate_uid()
        for i in range(slices_per_series):
            ds = _base(MRImageStorage, study=study, series_uid=series_uid)
            ds.Modality = "MR"
            ds.Manufacturer = "SIEMENS"
            ds.ManufacturerModelName = "Avanto"
            ds.MagneticFieldStrength = "1.5"
            ds.SeriesNumber = s + 1
            ds.SeriesDescription = descriptions[s % len(descriptions)]
            ds.InstanceNumber = i + 1
            ds.FrameOfReferenceUID = frame_of_reference
            ds.ImagePositionPatient = [-115.0, -115.0, -40.0 + 5.0 * i]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.SliceThickness = "5"
            ds.SpacingBetweenSlices = "5"
            ds.SliceLocation = -40.0 + 5.0 * i
            ds.PixelSpacing = [230 / size, 230 / size]
            ds.WindowCenter, ds.WindowWidth = 2000, 4000
            ds.ScanningSequence = "SE"
            ds.SequenceVariant = "NONE"
            ds.StationName = "MR1"
            study.instances.append(
                _image(ds, _pixels(seed * 100 + s * slices_per_series + i, size))
            )
    return study


def ct_instance(study: Study) -> Dataset:
    """A CT slice of the same patient: the platform reads brain MR only."""
    ds = _base(CTImageStorage, study=study, series_uid=generate_uid())
    ds.Modality = "CT"
    ds.SeriesNumber = 90
    ds.InstanceNumber = 1
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    return _image(ds, _pixels(7, 64))


def secondary_capture_burned_in(study: Study) -> Dataset:
    """A screen capture with the patient's details typed into its pixels."""
    ds = _base(SecondaryCaptureImageStorage, study=study, series_uid=generate_uid())
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    ds.SeriesNumber = 91
    ds.InstanceNumber = 1
    return _image(ds, _pixels(8, 64))


def malformed_mr(study: Study) -> Dataset:
    """An MR instance whose pixel data is far shorter than its header declares."""
    ds = mr_study(series=1, slices_per_series=1, size=64).instances[0]
    ds.StudyInstanceUID = study.study_uid
    ds.PatientName, ds.PatientID = study.patient_name, study.patient_id
    ds.PixelData = b"\x00\x01" * 10
    return ds


@dataclass
class SendResult:
    """What the receiving node answered: one status per instance (None: not sent, the
    association was refused or dropped)."""

    associated: bool
    statuses: list[int | None]

    @property
    def all_ok(self) -> bool:
        return self.associated and all(s == 0x0000 for s in self.statuses)


def send(
    instances: list[Dataset],
    *,
    port: int,
    called_aet: str,
    calling_aet: str = SCANNER_AET,
    host: str = "127.0.0.1",
) -> SendResult:
    """C-STORE the instances over one association, proposing each SOP class in explicit and
    implicit little endian, as a scanner does."""
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    classes = sorted({ds.SOPClassUID for ds in instances})
    ae.requested_contexts = [
        build_context(c, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]) for c in classes
    ]
    assoc = ae.associate(host, port, ae_title=called_aet)
    if not assoc.is_established:
        return SendResult(False, [None] * len(instances))
    statuses: list[int | None] = []
    try:
        for ds in instances:
            if not assoc.is_established:
                statuses.append(None)
                continue
            try:
                status = assoc.send_c_store(ds)
            except (RuntimeError, ValueError):
                statuses.append(None)
                continue
            statuses.append(int(status.Status) if "Status" in status else None)
    finally:
        if assoc.is_established:
            assoc.release()
    return SendResult(True, statuses)


def echo(*, port: int, called_aet: str, calling_aet: str = SCANNER_AET) -> int | None:
    """C-ECHO: the status of the verification, None when no association was made."""
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=called_aet)
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_echo()
        return int(status.Status) if "Status" in status else None
    finally:
        assoc.release()


def part10(ds: Dataset) -> bytes:
    """The instance as a DICOM file (what a receiver gets from the network, with its meta)."""
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()
