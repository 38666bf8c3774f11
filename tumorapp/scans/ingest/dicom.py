"""DICOM uploads: Part 10 files (128-byte preamble, then "DICM"), greyscale, any transfer
syntax an installed decoder handles.

1. Read the header without pixel data; refuse a length field that runs past the end of
   the file, what the header declares beyond the limits (rows x columns, frames, rows x
   columns x frames x bits), what is not a greyscale image, and a transfer syntax no
   installed decoder handles, before any pixel is decoded.
2. Read the whole file and refuse pixel data shorter than the header declares.
3. Decode every frame (a multi-frame file becomes one slice per frame). The modality LUT
   (rescale) gives modality values, kept as 16-bit for the viewer's real window/level; the
   VOI LUT (the header's window, or one from the 0.5-99.5 percentiles when there is none)
   gives the 8-bit image the model reads, so the model sees a windowed greyscale image and
   then the shared ml preprocessing, as in training.
4. De-identify (tumorapp.scans.deid): only the de-identified file is kept, never the bytes
   that were uploaded.
5. Burned-in annotation (BurnedInAnnotation = YES, or a Secondary Capture object, which
   often carries typed text) marks the slices for quarantine by an admin.

Every refusal is an IngestError with a message safe to show; pydicom's own messages are
logged, not shown, since they may quote the file's content.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pydicom
from django.conf import settings
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, get_decoder

from tumorapp.scans.deid import DEID_METHOD, DeidentificationError, deidentify, keyed_hash
from tumorapp.scans.ingest import (
    IngestedImage,
    IngestError,
    Limits,
    Reader,
    encode_image,
    register,
)

logger = logging.getLogger(__name__)

MAX_FRAMES = 1000
#: Rows x columns x frames x bytes per sample, as declared; checked before decoding, so a
#: small compressed file cannot make the decoder allocate gigabytes.
MAX_DECODED_BYTES = 128 * 1024 * 1024
#: Secondary Capture image storage and its multi-frame variants (.7, .7.1 ... .7.4).
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_VOI_KEYWORDS = (
    "PhotometricInterpretation",
    "BitsStored",
    "PixelRepresentation",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ModalityLUTSequence",
    "VOILUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
)


@dataclass(frozen=True)
class DicomSlice:
    """What a DICOM slice adds to its IngestedImage."""

    file_key: str  # keyed hash of the uploaded bytes: names the stored de-identified file
    deidentified: bytes  # the whole de-identified file (shared by the frames of one file)
    pixels16_png: bytes  # modality values as 16-bit greyscale: v * scale + offset
    pixel_offset: float
    pixel_scale: float
    bits_stored: int
    window_center: float
    window_width: float
    monochrome1: bool  # low values are white: the viewer starts inverted
    # PixelSpacing in mm: (between rows, between columns), for the viewer's ruler; None when
    # the header gives none (or a nonsense one): the ruler then measures in pixels.
    pixel_spacing: tuple[float, float] | None
    frame_number: int | None  # 1-based, for a frame of a multi-frame file
    instance_number: int | None
    study_uid: str  # de-identified
    series_uid: str  # de-identified
    series_number: int | None
    patient_key: str
    modality: str
    manufacturer: str
    manufacturer_model_name: str
    magnetic_field_strength: float | None
    deidentification_method: str
    quarantine_reason: str  # why an admin must look first; empty when nothing is suspected


def read_slices(data: bytes, limits: Limits) -> list[IngestedImage]:
    """Validate, decode and de-identify a DICOM file (see the module docstring)."""
    header = _read(data, stop_before_pixels=True)
    _check_lengths(data)
    rows, cols, frames, bits_allocated = _check_header(header, limits)
    _check_decodable(header)
    ds = _read(data)
    _check_pixel_length(ds, rows * cols * frames * bits_allocated // 8)
    quarantine = _quarantine_reason(ds)
    facts = _facts(ds)
    vois = [_voi_dataset(ds, frame) for frame in range(frames)]
    values = _modality_values(ds, vois)
    monochrome1 = str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1"
    spacings = [_pixel_spacing(ds, frame) for frame in range(frames)]  # before de-identifying
    secret = settings.DEID_SECRET.encode()
    try:
        deid = deidentify(ds, secret)
    except (DeidentificationError, RecursionError) as exc:
        logger.info("DICOM refused: cannot de-identify (%s)", exc)
        raise IngestError(
            "cannot_deidentify",
            "The DICOM header cannot be de-identified safely (it is malformed or nested too "
            "deeply), so it was not stored.",
        ) from exc
    except Exception as exc:
        logger.info("DICOM refused: de-identification failed (%r)", exc)
        raise _corrupt() from exc
    file_key = keyed_hash(secret, "file", hashlib.sha256(data).hexdigest()).hex()
    slices = []
    for index, (frame, voi) in enumerate(zip(values, vois, strict=True)):
        digest = file_key if frames == 1 else keyed_hash(secret, f"frame{index}", file_key).hex()
        center, width = _default_window(voi, values)
        offset, scale, png16 = _sixteen_bit(frame)
        eight = _eight_bit(frame, voi)
        info = DicomSlice(
            file_key=file_key,
            deidentified=deid.data,
            pixels16_png=png16,
            pixel_offset=offset,
            pixel_scale=scale,
            bits_stored=int(voi.get("BitsStored", bits_allocated)),
            window_center=center,
            window_width=width,
            frame_number=index + 1 if frames > 1 else None,
            monochrome1=monochrome1,
            pixel_spacing=spacings[index],
            study_uid=deid.study_uid,
            series_uid=deid.series_uid,
            patient_key=deid.patient_key,
            deidentification_method=DEID_METHOD,
            quarantine_reason=quarantine,
            **facts,
        )
        slices.append(encode_image("dicom", data, eight, sha256=digest, dicom_slice=info))
    return slices


def _corrupt() -> IngestError:
    return IngestError(
        "corrupt", "The DICOM file is damaged or truncated and cannot be read safely."
    )


def _read(data: bytes, **kwargs) -> Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=False, **kwargs)
            # pydicom parses lazily: touch every top-level element now, so a broken one
            # fails here, inside the refusal, not later while storing.
            for _ in ds:
                pass
            return ds
    except RecursionError as exc:
        raise IngestError(
            "too_deep", "The DICOM header nests sequences too deeply to be read safely."
        ) from exc
    except Exception as exc:
        logger.info("DICOM refused: unreadable header (%r)", exc)
        raise _corrupt() from exc


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int | None:
    try:
        value = ds.get(keyword, default)
        return default if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return default


def _check_header(ds: Dataset, limits: Limits) -> tuple[int, int, int, int]:
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    if not rows or not cols:
        raise IngestError(
            "not_an_image", "The DICOM file holds no image (it declares no rows and columns)."
        )
    frames = _int(ds, "NumberOfFrames", 1) or 1
    samples = _int(ds, "SamplesPerPixel", 1)
    bits_allocated = _int(ds, "BitsAllocated", 0)
    bits_stored = _int(ds, "BitsStored", bits_allocated)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if rows * cols > limits.max_pixels:
        raise IngestError(
            "too_many_pixels",
            f"The DICOM header declares {cols}x{rows} pixels; at most {limits.max_pixels:,} "
            "pixels are accepted.",
            status=413,
        )
    if rows < limits.min_side or cols < limits.min_side:
        raise IngestError(
            "too_small",
            f"The image is {cols}x{rows} pixels; at least {limits.min_side} a side is needed.",
        )
    if frames < 1 or frames > MAX_FRAMES:
        raise IngestError(
            "too_many_frames",
            f"The DICOM header declares {frames:,} frames; at most {MAX_FRAMES} are accepted.",
            status=413,
        )
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise IngestError(
            "not_greyscale",
            "Only greyscale DICOM images (MONOCHROME1 or MONOCHROME2) are accepted.",
            status=415,
        )
    if bits_allocated not in (8, 16) or not 1 <= bits_stored <= bits_allocated:
        raise IngestError(
            "unsupported_bits",
            "Only DICOM images of 8 or 16 bits allocated per pixel are accepted.",
            status=415,
        )
    declared = rows * cols * frames * bits_allocated // 8
    if declared > MAX_DECODED_BYTES:
        raise IngestError(
            "too_large",
            f"The DICOM header declares {declared:,} bytes of pixels ({cols}x{rows}, "
            f"{frames} frames); at most {MAX_DECODED_BYTES:,} are accepted.",
            status=413,
        )
    return rows, cols, frames, bits_allocated


def _check_decodable(ds: Dataset) -> None:
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if not syntax:
        raise _corrupt()
    try:
        available = get_decoder(syntax).is_available
    except Exception:
        available = False
    if not available:
        raise IngestError(
            "unsupported_transfer_syntax",
            f"The pixels are encoded as {syntax.name[:80]}, which this site cannot decode; "
            "export the images uncompressed (or RLE, JPEG, JPEG-LS or JPEG 2000) and retry.",
            status=415,
        )


def _check_lengths(data: bytes) -> None:
    """Refuse a length field that runs past the end of the file. pydicom reads what there
    is and carries on, so a lie there would otherwise pass unnoticed; here values over a few
    hundred bytes are only located (defer_size), not read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), defer_size=256)
            # keys(), not iteration: iterating a Dataset converts (reads) every element.
            elements = [ds.get_item(tag, keep_deferred=True) for tag in ds.keys()]  # noqa: SIM118
    except Exception as exc:
        logger.info("DICOM refused: unreadable header (%r)", exc)
        raise _corrupt() from exc
    for elem in elements:
        tell, length = getattr(elem, "value_tell", None), getattr(elem, "length", 0)
        if tell is not None and length != 0xFFFFFFFF and tell + length > len(data):
            raise IngestError(
                "length_beyond_file",
                f"An element of the DICOM header declares {length:,} bytes, more than the "
                "file holds: the file is truncated or its header lies.",
            )


def _check_pixel_length(ds: Dataset, declared: int) -> None:
    if "PixelData" not in ds:
        # pydicom drops an encapsulated (compressed) pixel data element cut short by the
        # end of the file, so a truncated compressed file looks like one without pixels.
        raise IngestError(
            "no_pixel_data",
            "The DICOM file holds no complete pixel data: it is truncated or not an image.",
        )
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return  # compressed: the decoder refuses a short stream (see _modality_values)
    actual = len(ds.PixelData)
    if actual < declared:
        raise IngestError(
            "truncated",
            f"The pixel data holds {actual:,} bytes but the header declares {declared:,}: "
            "the file is truncated or its header is wrong.",
        )


def _quarantine_reason(ds: Dataset) -> str:
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        return "BurnedInAnnotation is YES: text burned into the pixels may identify the patient."
    if str(ds.get("SOPClassUID", "")).startswith(SECONDARY_CAPTURE):
        return "Secondary Capture image: such images often carry burned-in identifying text."
    return ""


def _facts(ds: Dataset) -> dict:
    """Acquisition facts kept for drift monitoring (none of them identifies anyone)."""

    def text(keyword: str, length: int) -> str:
        return str(ds.get(keyword, "") or "").strip()[:length]

    try:
        strength = float(ds.get("MagneticFieldStrength"))
    except (TypeError, ValueError):
        strength = None
    return {
        "instance_number": _int(ds, "InstanceNumber"),
        "series_number": _int(ds, "SeriesNumber"),
        "modality": text("Modality", 16),
        "manufacturer": text("Manufacturer", 64),
        "manufacturer_model_name": text("ManufacturerModelName", 64),
        "magnetic_field_strength": strength,
    }


_FUNCTIONAL_GROUPS = (
    ("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept")),
    ("FrameVOILUTSequence", ("WindowCenter", "WindowWidth", "VOILUTFunction")),
)


def _voi_dataset(ds: Dataset, frame: int = 0) -> Dataset:
    """The attributes the LUT functions read for one frame: from the top level or, for
    enhanced multi-frame objects, from the frame's own functional groups, then the shared
    ones (PS3.3 C.7.6.16: a per-frame group overrides the shared one)."""
    voi = Dataset()
    for keyword in _VOI_KEYWORDS:
        if keyword in ds:
            setattr(voi, keyword, ds[keyword].value)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared = ds.get("SharedFunctionalGroupsSequence")
    sources = [
        per_frame[frame] if per_frame and frame < len(per_frame) else None,
        shared[0] if shared else None,
    ]
    for source in sources:
        for group, keywords in _FUNCTIONAL_GROUPS if source is not None else ():
            items = source.get(group)
            for keyword in keywords if items else ():
                if keyword in items[0] and keyword not in voi:
                    setattr(voi, keyword, items[0][keyword].value)
    return voi


def _pixel_spacing(ds: Dataset, frame: int = 0) -> tuple[float, float] | None:
    """PixelSpacing (mm between row centres, mm between column centres) of one frame: the
    frame's own Pixel Measures group, the shared one, then the top level (PS3.3 C.7.6.16.2.1).
    A missing, malformed or implausible value (not within 0.001-100 mm) gives None."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared = ds.get("SharedFunctionalGroupsSequence")
    groups = [
        per_frame[frame] if per_frame and frame < len(per_frame) else None,
        shared[0] if shared else None,
    ]
    sources = [
        group.PixelMeasuresSequence[0]
        for group in groups
        if group is not None and group.get("PixelMeasuresSequence")
    ]
    sources.append(ds)
    for source in sources:
        value = source.get("PixelSpacing")
        if value is None:
            continue
        try:
            row, col = (float(v) for v in value)
        except (TypeError, ValueError):
            return None
        if all(math.isfinite(v) and 0.001 <= v <= 100 for v in (row, col)):
            return (row, col)
        return None
    return None


def _modality_values(ds: Dataset, vois: list[Dataset]) -> np.ndarray:
    """Frames x rows x columns of modality values (float64), each frame through its own
    modality LUT."""
    frames = len(vois)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = ds.pixel_array.reshape((frames, *ds.pixel_array.shape[-2:]))
            values = np.stack(
                [
                    np.asarray(apply_modality_lut(pixels[i], vois[i]), dtype=np.float64)
                    for i in range(frames)
                ]
            )
    except Exception as exc:
        logger.info("DICOM refused: pixel data cannot be decoded (%r)", exc)
        raise IngestError(
            "corrupt",
            "The DICOM pixel data cannot be decoded: the file is damaged or truncated.",
        ) from exc
    if not np.all(np.isfinite(values)):
        raise _corrupt()
    return values


def _first(value) -> float:
    """The first of a multi-valued DS (several windows may be offered), as a float."""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0]
    return float(value)


def _default_window(voi: Dataset, values: np.ndarray) -> tuple[float, float]:
    """The header's window (first of several), or one spanning the 0.5-99.5 percentiles,
    which is also written into ``voi`` so the model's image uses the same window."""
    try:
        center, width = _first(voi.WindowCenter), _first(voi.WindowWidth)
        if width >= 1:
            return center, width
    except (AttributeError, TypeError, ValueError, IndexError):
        pass
    low, high = np.percentile(values, [0.5, 99.5])
    center, width = float((low + high) / 2), float(max(high - low, 1.0))
    voi.WindowCenter, voi.WindowWidth = center, width
    voi.VOILUTFunction = "LINEAR"
    voi.pop("VOILUTSequence", None)
    return center, width


def _eight_bit(values: np.ndarray, voi: Dataset) -> Image.Image:
    """The VOI LUT applied to modality values, scaled from its output range to 0-255."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        windowed = np.asarray(apply_voi_lut(values, voi), dtype=np.float64)
        if "VOILUTSequence" in voi:
            low, high = 0.0, float(2 ** int(voi.VOILUTSequence[0].LUTDescriptor[2]) - 1)
        else:
            # The windowing output range depends on bits and rescale (PS3.3 C.11.2.1.2);
            # the window applied to two extreme values gives it exactly.
            low, high = np.asarray(apply_voi_lut(np.array([-1e12, 1e12]), voi), dtype=float)
    scaled = (windowed - low) / max(high - low, 1e-9) * 255.0
    eight = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    if str(voi.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        eight = 255 - eight  # MONOCHROME1: low values are white
    return Image.fromarray(eight, "L")


def _sixteen_bit(values: np.ndarray) -> tuple[float, float, bytes]:
    """Modality values as a 16-bit greyscale PNG: offset (and scaled only when the values
    are not integers or span more than 65,535), exactly invertible for MR data."""
    low, high = float(np.floor(values.min())), float(values.max())
    if np.array_equal(values, np.round(values)) and high - low <= 65535:
        scale = 1.0
    else:
        scale = max(high - low, 1e-6) / 65535.0
    stored = np.clip(np.round((values - low) / scale), 0, 65535).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(stored).save(out, format="PNG")
    return low, scale, out.getvalue()


READER = register(Reader(format="dicom", magics=(b"DICM",), offset=128, read_slices=read_slices))
