"""De-identification of DICOM datasets: PS3.15 Annex E, Basic Application Level
Confidentiality Profile (E.1.1), applied at ingest before anything is stored.

Pure pydicom: no Django. The caller passes the site secret (settings.DEID_SECRET).

1. Private tags, overlay (60xx), curve (50xx) and retired results (4008) groups are removed.
2. Attributes of the profile's table E.1-1 that identify someone are removed (action X) or
   emptied (action Z); ``ATTRIBUTE_ACTIONS`` is the list, docs/dicom.md the table.
3. Every UID outside the DICOM standard's own root (1.2.840.10008) is replaced (action U) by
   ``2.25.<int>`` derived from the original with HMAC-SHA256 under the site secret, so the
   same original UID always maps to the same new UID at this site, and slices of one study
   stay one study.
4. Sequences are walked recursively, so an identifier nested in an item goes too.
5. PatientID is replaced by the pseudonymous patient key (a keyed hash of PatientID and
   IssuerOfPatientID); PatientIdentityRemoved, DeidentificationMethod and its code sequence
   (DCM 113100) are recorded; the file preamble is zeroed when written.

Dates are removed, not shifted (the profile's default; the "modified dates" option is not
claimed), so LongitudinalTemporalInformationModified is REMOVED.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from dataclasses import dataclass

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

#: Recorded in DeidentificationMethod; bump when the rules below change.
#: (LO: 64 characters at most.)
DEID_METHOD = "DICOM PS3.15 E.1.1 Basic Profile; tumorapp deid v1"
BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
STANDARD_UID_ROOT = "1.2.840.10008."

X, Z = "X", "Z"  # remove; replace with an empty value
#: Deeper nesting than this is refused: no MR header needs it, and a file that nests
#: thousands of levels is built to exhaust the parser.
MAX_SEQUENCE_DEPTH = 12

#: (tag, keyword, action). Basic Profile actions from PS3.15 table E.1-1 for the attributes
#: that MR files commonly carry. Where the table offers X/Z/D, X (remove) is used unless the
#: attribute is type 2 in the MR image IODs, where Z keeps the file valid.
ATTRIBUTE_ACTIONS: tuple[tuple[int, str, str], ...] = (
    (0x00020016, "SourceApplicationEntityTitle", X),
    (0x00080012, "InstanceCreationDate", X),
    (0x00080013, "InstanceCreationTime", X),
    (0x00080015, "InstanceCoercionDateTime", X),
    (0x00080020, "StudyDate", Z),
    (0x00080021, "SeriesDate", X),
    (0x00080022, "AcquisitionDate", X),
    (0x00080023, "ContentDate", Z),
    (0x00080024, "OverlayDate", X),
    (0x00080025, "CurveDate", X),
    (0x0008002A, "AcquisitionDateTime", X),
    (0x00080030, "StudyTime", Z),
    (0x00080031, "SeriesTime", X),
    (0x00080032, "AcquisitionTime", X),
    (0x00080033, "ContentTime", Z),
    (0x00080034, "OverlayTime", X),
    (0x00080035, "CurveTime", X),
    (0x00080050, "AccessionNumber", Z),
    (0x00080080, "InstitutionName", X),
    (0x00080081, "InstitutionAddress", X),
    (0x00080082, "InstitutionCodeSequence", X),
    (0x00080090, "ReferringPhysicianName", Z),
    (0x00080092, "ReferringPhysicianAddress", X),
    (0x00080094, "ReferringPhysicianTelephoneNumbers", X),
    (0x00080096, "ReferringPhysicianIdentificationSequence", X),
    (0x0008009C, "ConsultingPhysicianName", X),
    (0x0008009D, "ConsultingPhysicianIdentificationSequence", X),
    (0x00080201, "TimezoneOffsetFromUTC", X),
    (0x00081010, "StationName", X),
    (0x00081030, "StudyDescription", X),
    (0x0008103E, "SeriesDescription", X),
    (0x00081040, "InstitutionalDepartmentName", X),
    (0x00081048, "PhysiciansOfRecord", X),
    (0x00081049, "PhysiciansOfRecordIdentificationSequence", X),
    (0x00081050, "PerformingPhysicianName", X),
    (0x00081052, "PerformingPhysicianIdentificationSequence", X),
    (0x00081060, "NameOfPhysiciansReadingStudy", X),
    (0x00081062, "PhysiciansReadingStudyIdentificationSequence", X),
    (0x00081070, "OperatorsName", X),
    (0x00081072, "OperatorIdentificationSequence", X),
    (0x00081080, "AdmittingDiagnosesDescription", X),
    (0x00081084, "AdmittingDiagnosesCodeSequence", X),
    (0x00081110, "ReferencedStudySequence", X),
    (0x00081111, "ReferencedPerformedProcedureStepSequence", X),
    (0x00081120, "ReferencedPatientSequence", X),
    (0x00082111, "DerivationDescription", X),
    (0x00084000, "IdentifyingComments", X),
    (0x00100010, "PatientName", Z),
    (0x00100020, "PatientID", Z),  # then set to the pseudonymous key (a dummy value)
    (0x00100021, "IssuerOfPatientID", X),
    (0x00100022, "TypeOfPatientID", X),
    (0x00100024, "IssuerOfPatientIDQualifiersSequence", X),
    (0x00100030, "PatientBirthDate", Z),
    (0x00100032, "PatientBirthTime", X),
    (0x00100040, "PatientSex", Z),
    (0x00100050, "PatientInsurancePlanCodeSequence", X),
    (0x00100101, "PatientPrimaryLanguageCodeSequence", X),
    (0x00101000, "OtherPatientIDs", X),
    (0x00101001, "OtherPatientNames", X),
    (0x00101002, "OtherPatientIDsSequence", X),
    (0x00101005, "PatientBirthName", X),
    (0x00101010, "PatientAge", X),
    (0x00101020, "PatientSize", X),
    (0x00101030, "PatientWeight", X),
    (0x00101040, "PatientAddress", X),
    (0x00101050, "InsurancePlanIdentification", X),
    (0x00101060, "PatientMotherBirthName", X),
    (0x00101080, "MilitaryRank", X),
    (0x00101081, "BranchOfService", X),
    (0x00101090, "MedicalRecordLocator", X),
    (0x00101100, "ReferencedPatientPhotoSequence", X),
    (0x00102000, "MedicalAlerts", X),
    (0x00102110, "Allergies", X),
    (0x00102150, "CountryOfResidence", X),
    (0x00102152, "RegionOfResidence", X),
    (0x00102154, "PatientTelephoneNumbers", X),
    (0x00102155, "PatientTelecomInformation", X),
    (0x00102160, "EthnicGroup", X),
    (0x00102180, "Occupation", X),
    (0x001021A0, "SmokingStatus", X),
    (0x001021B0, "AdditionalPatientHistory", X),
    (0x001021C0, "PregnancyStatus", X),
    (0x001021D0, "LastMenstrualDate", X),
    (0x001021F0, "PatientReligiousPreference", X),
    (0x00102203, "PatientSexNeutered", X),
    (0x00102297, "ResponsiblePerson", X),
    (0x00102299, "ResponsibleOrganization", X),
    (0x00104000, "PatientComments", X),
    (0x00181000, "DeviceSerialNumber", X),
    (0x00181002, "DeviceUID", X),
    (0x00181004, "PlateID", X),
    (0x00181005, "GeneratorID", X),
    (0x00181007, "CassetteID", X),
    (0x00181008, "GantryID", X),
    (0x00181009, "UniqueDeviceIdentifier", X),
    (0x00181020, "SoftwareVersions", X),
    (0x00181030, "ProtocolName", X),
    (0x00181200, "DateOfLastCalibration", X),
    (0x00181201, "TimeOfLastCalibration", X),
    (0x00181400, "AcquisitionDeviceProcessingDescription", X),
    (0x00184000, "AcquisitionComments", X),
    (0x0018700A, "DetectorID", X),
    (0x00189424, "AcquisitionProtocolDescription", X),
    (0x0018A003, "ContributionDescription", X),
    (0x00200010, "StudyID", Z),
    (0x00204000, "ImageComments", X),
    (0x00209158, "FrameComments", X),
    (0x00320012, "StudyIDIssuer", X),
    (0x00320032, "StudyVerifiedDate", X),
    (0x00320033, "StudyVerifiedTime", X),
    (0x00320034, "StudyReadDate", X),
    (0x00320035, "StudyReadTime", X),
    (0x00321000, "ScheduledStudyStartDate", X),
    (0x00321001, "ScheduledStudyStartTime", X),
    (0x00321010, "ScheduledStudyStopDate", X),
    (0x00321011, "ScheduledStudyStopTime", X),
    (0x00321020, "ScheduledStudyLocation", X),
    (0x00321021, "ScheduledStudyLocationAETitle", X),
    (0x00321030, "ReasonForStudy", X),
    (0x00321032, "RequestingPhysician", X),
    (0x00321033, "RequestingService", X),
    (0x00321050, "StudyCompletionDate", X),
    (0x00321051, "StudyCompletionTime", X),
    (0x00321060, "RequestedProcedureDescription", X),
    (0x00321070, "RequestedContrastAgent", X),
    (0x00324000, "StudyComments", X),
    (0x00380004, "ReferencedPatientAliasSequence", X),
    (0x00380010, "AdmissionID", X),
    (0x00380011, "IssuerOfAdmissionID", X),
    (0x00380014, "IssuerOfAdmissionIDSequence", X),
    (0x0038001A, "ScheduledAdmissionDate", X),
    (0x0038001B, "ScheduledAdmissionTime", X),
    (0x0038001C, "ScheduledDischargeDate", X),
    (0x0038001D, "ScheduledDischargeTime", X),
    (0x0038001E, "ScheduledPatientInstitutionResidence", X),
    (0x00380020, "AdmittingDate", X),
    (0x00380021, "AdmittingTime", X),
    (0x00380050, "SpecialNeeds", X),
    (0x00380060, "ServiceEpisodeID", X),
    (0x00380061, "IssuerOfServiceEpisodeID", X),
    (0x00380062, "ServiceEpisodeDescription", X),
    (0x00380300, "CurrentPatientLocation", X),
    (0x00380400, "PatientInstitutionResidence", X),
    (0x00380500, "PatientState", X),
    (0x00384000, "VisitComments", X),
    (0x00400001, "ScheduledStationAETitle", X),
    (0x00400002, "ScheduledProcedureStepStartDate", X),
    (0x00400003, "ScheduledProcedureStepStartTime", X),
    (0x00400004, "ScheduledProcedureStepEndDate", X),
    (0x00400005, "ScheduledProcedureStepEndTime", X),
    (0x00400006, "ScheduledPerformingPhysicianName", X),
    (0x00400007, "ScheduledProcedureStepDescription", X),
    (0x00400009, "ScheduledProcedureStepID", X),
    (0x00400010, "ScheduledStationName", X),
    (0x00400011, "ScheduledProcedureStepLocation", X),
    (0x00400100, "ScheduledProcedureStepSequence", X),
    (0x00400241, "PerformedStationAETitle", X),
    (0x00400242, "PerformedStationName", X),
    (0x00400243, "PerformedLocation", X),
    (0x00400244, "PerformedProcedureStepStartDate", X),
    (0x00400245, "PerformedProcedureStepStartTime", X),
    (0x00400250, "PerformedProcedureStepEndDate", X),
    (0x00400251, "PerformedProcedureStepEndTime", X),
    (0x00400253, "PerformedProcedureStepID", X),
    (0x00400254, "PerformedProcedureStepDescription", X),
    (0x00400275, "RequestAttributesSequence", X),
    (0x00400280, "CommentsOnThePerformedProcedureStep", X),
    (0x00400555, "AcquisitionContextSequence", X),
    (0x00401001, "RequestedProcedureID", X),
    (0x00401004, "PatientTransportArrangements", X),
    (0x00401005, "RequestedProcedureLocation", X),
    (0x00401010, "NamesOfIntendedRecipientsOfResults", X),
    (0x00401011, "IntendedRecipientsOfResultsIdentificationSequence", X),
    (0x00401101, "PersonIdentificationCodeSequence", X),
    (0x00401102, "PersonAddress", X),
    (0x00401103, "PersonTelephoneNumbers", X),
    (0x00401104, "PersonTelecomInformation", X),
    (0x00401400, "RequestedProcedureComments", X),
    (0x00402001, "ReasonForTheImagingServiceRequest", X),
    (0x00402008, "OrderEnteredBy", X),
    (0x00402009, "OrderEntererLocation", X),
    (0x00402010, "OrderCallbackPhoneNumber", X),
    (0x00402016, "PlacerOrderNumberImagingServiceRequest", Z),
    (0x00402017, "FillerOrderNumberImagingServiceRequest", Z),
    (0x00402400, "ImagingServiceRequestComments", X),
    (0x00403001, "ConfidentialityConstraintOnPatientDataDescription", X),
    (0x0040A027, "VerifyingOrganization", X),
    (0x0040A030, "VerificationDateTime", X),
    (0x0040A073, "VerifyingObserverSequence", X),
    (0x0040A075, "VerifyingObserverName", X),
    (0x0040A078, "AuthorObserverSequence", X),
    (0x0040A123, "PersonName", X),
    (0x0040A730, "ContentSequence", X),
    (0x00700084, "ContentCreatorName", Z),
    (0x04000561, "OriginalAttributesSequence", X),
)
_ACTIONS: dict[BaseTag, str] = {Tag(tag): action for tag, _, action in ATTRIBUTE_ACTIONS}
_OVERLAY_OR_CURVE_GROUPS = range(0x5000, 0x6100)  # 50xx curves .. 60xx overlays (even groups)
_RESULTS_GROUP = 0x4008  # retired Results module: interpretations, their authors and dates


class DeidentificationError(ValueError):
    """The dataset cannot be de-identified safely; it must not be stored."""


@dataclass(frozen=True)
class Deidentified:
    """The de-identified file and the pseudonymous keys the platform keeps about it."""

    data: bytes  # the de-identified Part 10 file, preamble zeroed
    dataset: Dataset  # the same, parsed (pixel data included)
    patient_key: str  # hex keyed hash of PatientID + IssuerOfPatientID (or of the study)
    study_uid: str
    series_uid: str
    sop_instance_uid: str


def keyed_hash(secret: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()


def replacement_uid(secret: bytes, uid: str) -> str:
    """The site's stable replacement for ``uid``: 2.25.<128-bit int> (PS3.5 B.2), the int
    being a keyed hash shaped like a UUID (variant 10, version 8: custom)."""
    raw = bytearray(keyed_hash(secret, "uid", uid.strip())[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80
    raw[8] = (raw[8] & 0x3F) | 0x80
    return f"2.25.{int.from_bytes(raw, 'big')}"


def patient_key(secret: bytes, ds: Dataset) -> str:
    """Keyed hash of PatientID + IssuerOfPatientID: the same patient gets the same key, the
    data team can split by it, and without the secret it leads back to no one. A file with
    no PatientID is its own patient, keyed by its study."""
    patient_id = str(ds.get("PatientID", "") or "").strip()
    issuer = str(ds.get("IssuerOfPatientID", "") or "").strip()
    if patient_id:
        return keyed_hash(secret, "patient", f"{patient_id}\x00{issuer}").hex()
    return keyed_hash(secret, "study", str(ds.get("StudyInstanceUID", ""))).hex()


def deidentify(ds: Dataset, secret: bytes) -> Deidentified:
    """De-identify ``ds`` in place (see the module docstring) and write it out."""
    key = patient_key(secret, ds)
    _clean(ds, secret)
    ds.PatientID = key
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEID_METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = BASIC_PROFILE_CODE
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    meta = ds.file_meta
    clean_meta = FileMetaDataset()
    clean_meta.MediaStorageSOPClassUID = meta.get("MediaStorageSOPClassUID", ds.SOPClassUID)
    clean_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    clean_meta.TransferSyntaxUID = meta.TransferSyntaxUID
    ds.file_meta = clean_meta
    # The preamble is free for applications and can hold an executable (a PE or ELF header
    # makes a "dual-personality" file): it is always written as 128 zero bytes.
    ds.preamble = b"\x00" * 128
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return Deidentified(
        data=out.getvalue(),
        dataset=ds,
        patient_key=key,
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
    )


def _clean(ds: Dataset, secret: bytes, depth: int = 0) -> None:
    if depth > MAX_SEQUENCE_DEPTH:
        raise DeidentificationError(f"sequences nested deeper than {MAX_SEQUENCE_DEPTH} levels")
    for elem in list(ds):
        tag = elem.tag
        if (
            tag.is_private
            or (tag.group in _OVERLAY_OR_CURVE_GROUPS and tag.group % 2 == 0)
            or tag.group == _RESULTS_GROUP
        ):
            del ds[tag]
            continue
        action = _ACTIONS.get(tag)
        if action == X:
            del ds[tag]
        elif action == Z:
            elem.value = Sequence() if elem.VR == "SQ" else None
        elif elem.VR == "SQ":
            for item in elem.value:
                _clean(item, secret, depth + 1)
        elif elem.VR == "UI" and elem.value:
            elem.value = _replace_uids(elem.value, secret)


def _replace_uids(value, secret: bytes):
    def one(uid: str) -> str:
        uid = str(uid)
        return uid if uid.startswith(STANDARD_UID_ROOT) else replacement_uid(secret, uid)

    if isinstance(value, str):
        return one(value)
    return [one(v) for v in value]
