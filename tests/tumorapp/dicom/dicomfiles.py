"""DICOM test files, generated with pydicom at run time: synthetic slices carrying every
identifying attribute the de-identification must remove, the small real MR files shipped
inside pydicom's own test data, and hostile files."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, SecondaryCaptureImageStorage

from tests.tumorapp.scans.images import real_slice

PATIENT_NAME = "Doe^Johanna^Q"
PATIENT_ID = "MRN-4481-2290"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1001"
SERIES_UID = "1.2.826.0.1.3680043.8.498.1001.1"
FRAME_OF_REFERENCE_UID = "1.2.826.0.1.3680043.8.498.1001.9"
#: Text that must never reach storage or an export (each is set somewhere in the file).
IDENTIFYING_TEXT = (
    PATIENT_NAME,
    PATIENT_ID,
    "19610523",  # birth date
    "20260311",  # study and other dates
    "St Elsewhere General Hospital",
    "12 Harbour Road, Portsmouth",
    "Kildare^James",  # referring physician
    "Casey^Ben",  # performing physician
    "Gillespie^Leonard",  # reading physician
    "Ratched^Mildred",  # operator
    "ACC-77123",  # accession
    "ISSUER-NHS",
    "Johanna Doe's brain",  # descriptions
    "OTHER-ID-993",
    "+44 20 7946 0018",
    "PRIVATE-VENDOR-SECRET",
    "SCANNER-SN-55102",
    "Seen by Dr Kildare",  # comments
    "Recorder^Rita",  # retired results group 4008
    "REQ-5521",  # nested in the request attributes
    "contrast allergy",
    STUDY_UID,
    SERIES_UID,
    FRAME_OF_REFERENCE_UID,
)


def identified_dataset(
    pixels: np.ndarray | None = None,
    *,
    instance: int = 1,
    study_uid: str = STUDY_UID,
    series_uid: str = SERIES_UID,
    patient_id: str = PATIENT_ID,
    window: tuple[float, float] | None = (600.0, 1200.0),
    burned_in: str | None = None,
    sop_class: str = MRImageStorage,
) -> Dataset:
    """An MR slice (16-bit, rescaled) carrying every identifying attribute of the profile
    that MR files commonly hold, private tags, an overlay, a curve and nested identifiers."""
    if pixels is None:
        rng = np.random.default_rng(instance)
        yy, xx = np.mgrid[0:64, 0:64]
        disc = ((yy - 32) ** 2 + (xx - 32) ** 2 < 26**2) * 900
        pixels = (disc + rng.integers(0, 300, (64, 64))).astype(np.uint16)
    sop_uid = f"{series_uid}.{instance}"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.SourceApplicationEntityTitle = "ELSEWHERE_PACS"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    ds.Modality = "MR"
    ds.Manufacturer = "SIEMENS"
    ds.ManufacturerModelName = "Avanto"
    ds.MagneticFieldStrength = "1.5"
    ds.SeriesNumber = 3
    ds.InstanceNumber = instance
    ds.PatientName = PATIENT_NAME
    ds.PatientID = patient_id
    ds.IssuerOfPatientID = "ISSUER-NHS"
    ds.OtherPatientIDs = "OTHER-ID-993"
    ds.OtherPatientNames = "Doe^Jo"
    ds.PatientBirthDate = "19610523"
    ds.PatientBirthTime = "0815"
    ds.PatientSex = "F"
    ds.PatientAge = "064Y"
    ds.PatientSize = "1.68"
    ds.PatientWeight = "61"
    ds.PatientAddress = "12 Harbour Road, Portsmouth"
    ds.PatientTelephoneNumbers = "+44 20 7946 0018"
    ds.PatientMotherBirthName = "Smith^Anne"
    ds.EthnicGroup = "unknown"
    ds.Occupation = "Lighthouse crew"
    ds.AdditionalPatientHistory = "Headaches since 2019"
    ds.PatientComments = "Seen by Dr Kildare"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20260311"
    ds.InstanceCreationDate = "20260311"
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "101500"
    ds.AcquisitionDateTime = "20260311101500"
    ds.AccessionNumber = "ACC-77123"
    ds.StudyID = "STUDY-41"
    ds.InstitutionName = "St Elsewhere General Hospital"
    ds.InstitutionAddress = "12 Harbour Road, Portsmouth"
    ds.InstitutionalDepartmentName = "Neuroradiology"
    ds.StationName = "ELSEWHERE-MR1"
    ds.ReferringPhysicianName = "Kildare^James"
    ds.PerformingPhysicianName = "Casey^Ben"
    ds.NameOfPhysiciansReadingStudy = "Gillespie^Leonard"
    ds.PhysiciansOfRecord = "Kildare^James"
    ds.OperatorsName = "Ratched^Mildred"
    ds.RequestingPhysician = "Kildare^James"
    ds.StudyDescription = "Johanna Doe's brain"
    ds.SeriesDescription = "Johanna Doe's brain T1"
    ds.ProtocolName = "Johanna Doe's brain protocol"
    ds.ImageComments = "Seen by Dr Kildare"
    ds.DeviceSerialNumber = "SCANNER-SN-55102"
    ds.RequestedProcedureDescription = "MRI brain for Johanna Doe"
    ds.PerformedProcedureStepDescription = "Johanna Doe's brain"
    ds.AdmissionID = "ADM-2290"
    ds.MedicalAlerts = "contrast allergy"
    request = Dataset()
    request.RequestedProcedureID = "REQ-5521"
    request.ScheduledProcedureStepID = "REQ-5521-1"
    ds.RequestAttributesSequence = Sequence([request])
    ds.add_new(0x40080102, "PN", "Recorder^Rita")  # InterpretationRecorder (retired)
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "X1", "99LOCAL", "Elsewhere"
    ds.InstitutionCodeSequence = Sequence([code])
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = MRImageStorage
    referenced.ReferencedSOPInstanceUID = f"{series_uid}.{instance + 1}"
    nested = Dataset()
    nested.PatientName = PATIENT_NAME  # an identifier nested in an item must go too
    nested.AccessionNumber = "ACC-77123"
    referenced.ReferencedPatientSequence = Sequence([nested])
    ds.ReferencedImageSequence = Sequence([referenced])
    ds.add_new(0x00090010, "LO", "VENDOR PRIVATE")
    ds.add_new(0x00091001, "LO", "PRIVATE-VENDOR-SECRET")
    ds.add_new(0x60000010, "US", 64)  # overlay rows
    ds.add_new(0x60000011, "US", 64)
    ds.add_new(0x60003000, "OW", b"\x00" * (64 * 64 // 8))
    ds.add_new(0x50000005, "US", 1)  # curve dimensions (retired, still seen)
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -100
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def to_bytes(ds: Dataset, preamble: bytes | None = None) -> bytes:
    if preamble is not None:
        ds.preamble = preamble.ljust(128, b"\x00")[:128]
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def identified_bytes(**kwargs) -> bytes:
    return to_bytes(identified_dataset(**kwargs))


def from_shared_jpeg(index: int = 0, **kwargs) -> bytes:
    """A real slice of the shared data set, wrapped as an identified 16-bit MR DICOM."""
    _, data = real_slice(index)
    grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.uint16) * 16
    return identified_bytes(pixels=grey, **kwargs)


def multi_frame_bytes(frames: int = 3, **kwargs) -> bytes:
    stack = np.stack([np.full((32, 32), 200 * (i + 1), dtype=np.uint16) for i in range(frames)])
    stack[:, 8:24, 8:24] += 500
    ds = identified_dataset(pixels=stack[0], **kwargs)
    ds.NumberOfFrames = frames
    ds.PixelData = stack.astype("<u2").tobytes()
    return to_bytes(ds)


def pydicom_file(name: str) -> bytes | None:
    """One of the real files that ship inside pydicom (never downloaded)."""
    path = Path(pydicom.__file__).parent / "data" / "test_files" / name
    return path.read_bytes() if path.exists() else None


# --- Hostile files ---------------------------------------------------------------------------


def lying_dimensions(rows: int = 65535, cols: int = 65535, frames: int = 1) -> bytes:
    """A header declaring a huge image over a few bytes of pixel data."""
    ds = identified_dataset(pixels=np.zeros((16, 16), dtype=np.uint16))
    ds.Rows, ds.Columns = rows, cols
    if frames > 1:
        ds.NumberOfFrames = frames
    return to_bytes(ds)


def short_pixel_data() -> bytes:
    ds = identified_dataset()
    ds.PixelData = ds.PixelData[:100]
    return to_bytes(ds)


def truncated() -> bytes:
    data = identified_bytes()
    return data[: len(data) // 2]


def truncated_header() -> bytes:
    data = identified_bytes()
    return data[:400]


def huge_length_field() -> bytes:
    """The patient name's length field says 65,520 bytes in a file of a few kilobytes."""
    data = bytearray(identified_bytes())
    at = data.find(b"PN", 132)
    data[at + 2 : at + 4] = struct.pack("<H", 0xFFF0)
    return bytes(data)


def huge_pixel_length() -> bytes:
    """Pixel data declared as 4 GB long."""
    data = bytearray(identified_bytes())
    at = data.rfind(b"\xe0\x7f\x10\x00OW")
    data[at + 8 : at + 12] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


def deep_sequences(depth: int = 20_000) -> bytes:
    """ReferencedImageSequence nested ``depth`` levels deep (undefined lengths), in its
    place among the top-level elements (before the private group 0009)."""
    ds = identified_dataset()
    del ds.ReferencedImageSequence
    data = to_bytes(ds)
    at = data.find(b"\x09\x00\x10\x00LO")
    level = b"\x08\x00\x40\x11SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    end = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return data[:at] + level * depth + end * depth + data[at:]


def compressed_truncated(name: str) -> bytes:
    """One of pydicom's compressed MR files cut at 60 % (a synthetic one if not shipped)."""
    data = pydicom_file(name) or identified_bytes()
    return data[: len(data) * 6 // 10]


def not_dicom_named_dcm() -> bytes:
    return b"MZ\x90\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode." * 4


def garbage_after_magic() -> bytes:
    return b"\x00" * 128 + b"DICM" + b"\xde\xad\xbe\xef" * 64


def unknown_transfer_syntax() -> bytes:
    """Explicit VR little endian data under a transfer syntax UID no decoder knows."""
    data = identified_bytes()
    known = ExplicitVRLittleEndian.encode() + b"\x00"
    assert data.count(known) == 1
    return data.replace(known, b"1.2.3.4.5.6.7.8.9.10")


def colour() -> bytes:
    ds = identified_dataset(sop_class=SecondaryCaptureImageStorage)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = b"\x00" * (64 * 64 * 3)
    return to_bytes(ds)
