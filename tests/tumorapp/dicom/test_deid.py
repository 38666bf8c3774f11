"""RELIABILITY 7 at the unit level: the Basic Profile applied to a slice carrying every
identifying attribute (tumorapp.scans.deid)."""

import io

import pydicom
import pytest
from pydicom.datadict import keyword_for_tag

from tests.tumorapp.dicom import dicomfiles
from tumorapp.scans.deid import (
    ATTRIBUTE_ACTIONS,
    BASIC_PROFILE_CODE,
    DeidentificationError,
    deidentify,
    replacement_uid,
)

SECRET = b"test-site-secret"


def deidentified(**kwargs):
    return deidentify(dicomfiles.identified_dataset(**kwargs), SECRET)


def test_every_identifying_attribute_is_removed_or_blanked():
    # given a slice holding every identifying attribute; when it is de-identified
    result = deidentified()
    ds = pydicom.dcmread(io.BytesIO(result.data))
    # then each listed attribute is gone (X) or empty (Z), PatientID excepted (pseudonym)
    for tag, keyword, action in ATTRIBUTE_ACTIONS:
        if keyword == "PatientID":
            continue
        if action == "X":
            assert tag not in ds, keyword
        elif tag in ds:
            assert not ds[tag].value, keyword
    # and no identifying text is left anywhere in the file
    for text in dicomfiles.IDENTIFYING_TEXT:
        assert text.encode() not in result.data, text


def test_private_tags_overlays_curves_and_nested_identifiers_go():
    ds = pydicom.dcmread(io.BytesIO(deidentified().data))
    assert not [e for e in ds.iterall() if e.tag.is_private]
    assert not [e for e in ds if e.tag.group in (0x5000, 0x6000)]
    [item] = ds.ReferencedImageSequence
    assert "ReferencedPatientSequence" not in item
    assert item.ReferencedSOPClassUID == pydicom.uid.MRImageStorage  # standard UIDs stay


def test_identity_removed_and_method_recorded():
    ds = pydicom.dcmread(io.BytesIO(deidentified().data))
    assert ds.PatientIdentityRemoved == "YES"
    assert "E.1.1" in ds.DeidentificationMethod
    [code] = ds.DeidentificationMethodCodeSequence
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == BASIC_PROFILE_CODE
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"


def test_uids_replaced_consistently_within_a_study():
    # given two slices of one series
    first, second = deidentified(instance=1), deidentified(instance=2)
    # then both land in the same replaced study and series, with distinct instances
    assert first.study_uid == second.study_uid != dicomfiles.STUDY_UID
    assert first.series_uid == second.series_uid != dicomfiles.SERIES_UID
    assert first.sop_instance_uid != second.sop_instance_uid
    assert first.study_uid.startswith("2.25.") and len(first.study_uid) <= 64
    # and a reference to slice 2 inside slice 1 points at slice 2's new UID
    ds1 = pydicom.dcmread(io.BytesIO(first.data))
    assert ds1.ReferencedImageSequence[0].ReferencedSOPInstanceUID == second.sop_instance_uid
    assert ds1.file_meta.MediaStorageSOPInstanceUID == first.sop_instance_uid
    # and another site secret gives other UIDs (a keyed hash, not a plain one)
    assert replacement_uid(b"other", dicomfiles.STUDY_UID) != first.study_uid


def test_patient_key_is_a_keyed_hash_of_id_and_issuer():
    same = deidentified(instance=1).patient_key, deidentified(instance=5).patient_key
    other = deidentified(patient_id="MRN-0000-0001").patient_key
    assert same[0] == same[1] != other
    assert dicomfiles.PATIENT_ID not in same[0]
    ds = pydicom.dcmread(io.BytesIO(deidentified().data))
    assert ds.PatientID == same[0]  # the pseudonym replaces the real id


def test_preamble_is_zeroed():
    # RELIABILITY 4: a preamble carrying an executable header is written as zeros
    ds = dicomfiles.identified_dataset()
    ds.preamble = b"MZ\x90\x00This program cannot be run".ljust(128, b"\x01")
    result = deidentify(ds, SECRET)
    assert result.data[:128] == b"\x00" * 128 and result.data[128:132] == b"DICM"


def test_nesting_deeper_than_the_limit_is_refused():
    ds = dicomfiles.identified_dataset()
    inner = pydicom.Dataset()
    inner.CodeValue = "x"
    for _ in range(30):
        outer = pydicom.Dataset()
        outer.ReferencedImageSequence = pydicom.Sequence([inner])
        inner = outer
    ds.ReferencedImageSequence = pydicom.Sequence([inner])
    with pytest.raises(DeidentificationError):
        deidentify(ds, SECRET)


def test_the_attribute_list_names_each_tag_as_the_dicom_dictionary_does():
    wrong = [(hex(t), k) for t, k, _ in ATTRIBUTE_ACTIONS if keyword_for_tag(t) != k]
    assert wrong == []
    assert len({t for t, _, _ in ATTRIBUTE_ACTIONS}) == len(ATTRIBUTE_ACTIONS)
