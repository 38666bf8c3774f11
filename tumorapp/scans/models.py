import uuid

from django.conf import settings
from django.db import models


class Study(models.Model):
    """A DICOM study, known only by its de-identified Study Instance UID (the same original
    UID always maps to the same one at this site, so slices uploaded apart meet here)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study_uid = models.CharField(max_length=64, unique=True)
    # Keyed hash of PatientID + IssuerOfPatientID: lets the data team split by patient.
    patient_key = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return f"Study {self.public_id}"


class Series(models.Model):
    """A DICOM series of a study, with the acquisition metadata kept for drift monitoring."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_uid = models.CharField(max_length=64, unique=True)
    series_number = models.IntegerField(null=True, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    manufacturer = models.CharField(max_length=64, blank=True)
    manufacturer_model_name = models.CharField(max_length=64, blank=True)
    magnetic_field_strength = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series_number", "created_at"]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return f"Series {self.public_id}"


class Scan(models.Model):
    """One uploaded slice, stored once under its content hash (no user text in the key)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for the model"
        PREDICTED = "predicted", "Predicted"
        FAILED = "failed", "Prediction failed"
        QUARANTINED = "quarantined", "Quarantined"

    class Format(models.TextChoices):
        PNG = "png", "PNG"
        JPEG = "jpeg", "JPEG"
        DICOM = "dicom", "DICOM"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="uploads"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    original_filename = models.CharField(max_length=255, blank=True)
    source_format = models.CharField(max_length=8, choices=Format.choices)
    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.PositiveBigIntegerField()
    image = models.FileField(max_length=200)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # Intensity statistics of the stored greyscale image, kept for drift monitoring.
    intensity_mean = models.FloatField()
    intensity_std = models.FloatField()
    intensity_p01 = models.FloatField()
    intensity_p99 = models.FloatField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    status_reason = models.TextField(blank=True)
    # A colour image stored because the site allows them (``SiteOptions.allow_colour_images``):
    # out of the worklist until a technologist confirms it is an image to read.
    colour_held = models.BooleanField(default=False)
    colour_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    colour_confirmed_at = models.DateTimeField(null=True, blank=True)
    # DICOM slices only (empty for PNG/JPEG): where the slice sits, the de-identified file
    # (the export), and the 16-bit modality values the viewer windows itself.
    series = models.ForeignKey(
        Series, null=True, blank=True, on_delete=models.PROTECT, related_name="scans"
    )
    instance_number = models.IntegerField(null=True, blank=True)
    frame_number = models.PositiveIntegerField(null=True, blank=True)
    dicom_file = models.FileField(max_length=200, blank=True)
    pixels16 = models.FileField(max_length=200, blank=True)
    # Stored 16-bit value v stands for the modality value v * pixel_scale + pixel_offset.
    pixel_offset = models.FloatField(default=0.0)
    pixel_scale = models.FloatField(default=1.0)
    bits_stored = models.PositiveSmallIntegerField(null=True, blank=True)
    # The default window of the viewer, in modality units (from the header when it has one).
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    # MONOCHROME1: low values are meant to be white, so the viewer starts inverted.
    monochrome1 = models.BooleanField(default=False)
    # PixelSpacing in mm (between rows, between columns): the viewer's ruler measures in mm
    # where it is known, in pixels otherwise.
    pixel_spacing_row = models.FloatField(null=True, blank=True)
    pixel_spacing_col = models.FloatField(null=True, blank=True)
    deidentification_method = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]
        indexes = [models.Index(fields=["uploaded_by", "-uploaded_at"])]

    def __str__(self) -> str:
        return f"Scan {self.public_id}"

    @property
    def display_name(self) -> str:
        """What pages call the slice: its file name, or for DICOM (whose names and
        descriptions de-identification removes) where it sits in its series."""
        if self.series_id is None:
            return self.original_filename or "(unnamed)"
        parts = [
            f"{self.series.modality or 'DICOM'} series "
            f"{'–' if self.series.series_number is None else self.series.series_number}"
        ]
        if self.instance_number is not None:
            parts.append(f"instance {self.instance_number}")
        if self.frame_number:
            parts.append(f"frame {self.frame_number}")
        return " · ".join(parts)
