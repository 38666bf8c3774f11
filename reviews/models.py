"""Cases on the radiologists' worklist, the reads made on them, and the site's review options."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from reviews import labels
from tumorapp.inference.models import Prediction
from tumorapp.scans.models import Scan, Study


def _choice(name: str) -> tuple[str, tuple[str, str]]:
    """A class name of ``ml`` as an enum member: GLIOMA = "glioma", "Glioma"."""
    return name.upper(), (name, labels.DISPLAY_NAMES[name])


#: The model's classes, what the AI answers: ``ml.CLASS_NAMES``, defined there only.
TumourClass = models.TextChoices("TumourClass", [_choice(c) for c in labels.MODEL_CLASSES])

#: A radiologist's answer: the model's classes (keys 1-4 on the review screen), a tumour whose
#: type the slice does not show (key 5), or an image that cannot be read or is not a brain MRI
#: (key 6; never a tumour answer nor a training label: ``reviews.labels``).
ReadLabel = models.TextChoices(
    "ReadLabel", [_choice(c) for c in (*labels.READ_LABELS, labels.UNREADABLE)]
)


class SiteOptions(models.Model):
    """The review options of this site: one row, read with SiteOptions.current()."""

    class Consensus(models.TextChoices):
        """Whether the two readers of a disagreement settle it together (a consensus on a
        shared screen) instead of waiting for a third radiologist."""

        AUTO = "auto", "When fewer than three radiologists are active"
        ON = "on", "Always"
        OFF = "off", "Never: a third radiologist adjudicates"

    double_read_rate = models.FloatField(
        default=0.1, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    blind_first_read = models.BooleanField(default=False)
    lease_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(240)]
    )
    escalate_after_minutes = models.PositiveIntegerField(
        default=240, validators=[MinValueValidator(5)]
    )
    consensus = models.CharField(max_length=8, choices=Consensus.choices, default=Consensus.AUTO)
    # Colour images (photographs, screenshots) are refused at upload unless this is on; then
    # they are stored but held out of the worklist until a technologist confirms each.
    allow_colour_images = models.BooleanField(default=False)
    # Studies received over DICOM keep their clinical link (tumorapp.clinical: accession,
    # patient ID, original UIDs, encrypted) so results can go back to the patient's study.
    # Off: everything is de-identified and nothing links back, as for uploads.
    clinical_link = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "site options"

    def __str__(self) -> str:
        return "Site options"

    @classmethod
    def current(cls) -> "SiteOptions":
        options, _ = cls.objects.get_or_create(pk=1)
        return options


class Case(models.Model):
    """One scan, or one DICOM study with all its slices, waiting for (or done with) reads.

    A DICOM study is one case: ``study`` is set and ``scan`` is its key slice, the slice
    whose prediction is the most urgent while the case waits (the reader sees and can move
    through every slice of the study). PNG and JPEG uploads are one case per scan.

    ``priority`` is denormalised when the prediction lands (and lowered by escalation) so the
    worklist and the next-case claim are one indexed ``ORDER BY priority, opened_at``.
    Lower is more urgent: the thousands say the band, the rest orders within the band
    (``services.triage_priority``).
    """

    class Status(models.TextChoices):
        FIRST_READ = "first_read", "Awaiting read"
        SECOND_READ = "second_read", "Awaiting second read"
        ADJUDICATION = "adjudication", "Awaiting adjudication"
        DONE = "done", "Reported"

    class Band(models.IntegerChoices):
        # Out of distribution: first check that it is a brain MRI at all.
        UNUSUAL = 0, "Unusual image: brain MRI?"
        ESCALATED = 1, "Escalated"
        SUSPECTED = 2, "Suspected tumour"
        UNCERTAIN = 3, "Uncertain"
        ROUTINE = 4, "Routine"

    class Resolution(models.TextChoices):
        SINGLE = "single", "Single read"
        AGREED = "agreed", "Agreed double read"
        ADJUDICATED = "adjudicated", "Adjudicated"
        CONSENSUS = "consensus", "Consensus of both readers"
        AMENDED = "amended", "Amended after report"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    scan = models.OneToOneField(Scan, on_delete=models.CASCADE, related_name="case")
    study = models.ForeignKey(
        Study, null=True, blank=True, on_delete=models.PROTECT, related_name="cases"
    )
    prediction = models.ForeignKey(Prediction, on_delete=models.PROTECT, related_name="+")
    ai_label = models.CharField(max_length=16, choices=TumourClass.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FIRST_READ)
    priority = models.PositiveIntegerField()
    opened_at = models.DateTimeField()
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # A reader this case waits for (a personal queue): only they are handed it, before
    # their other cases, until a read moves it on or it is escalated.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The class the claim holder recorded before the AI's answer was revealed (blind read).
    blind_label = models.CharField(max_length=16, choices=ReadLabel.choices, blank=True)
    first_reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    second_reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    final_label = models.CharField(max_length=16, choices=ReadLabel.choices, blank=True)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # A disagreement settled by its two readers: the answer one of them proposed, waiting
    # for the other to confirm it (``services.case_consensus_propose``).
    consensus_label = models.CharField(max_length=16, choices=ReadLabel.choices, blank=True)
    consensus_proposer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    consensus_note = models.TextField(blank=True)

    class Meta:
        ordering = ["priority", "opened_at"]
        indexes = [
            models.Index(fields=["status", "priority", "opened_at"], name="case_worklist"),
            # The default worklist (every open case) walks this partial index in order and
            # stops after one page, instead of sorting all open cases.
            models.Index(
                fields=["priority", "opened_at"],
                condition=~models.Q(status="done"),
                name="case_open_triage",
            ),
        ]
        constraints = [
            # Slices arriving after a study was reported open a new case for that study.
            models.UniqueConstraint(
                fields=["study"],
                condition=~models.Q(status="done"),
                name="one_open_case_per_study",
            )
        ]

    def __str__(self) -> str:
        return f"Case {self.public_id} ({self.status})"

    @property
    def band(self) -> "Case.Band":
        return Case.Band(self.priority // 1000)

    @property
    def is_open(self) -> bool:
        return self.status != Case.Status.DONE


class Review(models.Model):
    """One radiologist's read of a case: first, second (blinded) or adjudication."""

    class Kind(models.TextChoices):
        FIRST = "first", "First read"
        SECOND = "second", "Second read"
        ADJUDICATION = "adjudication", "Adjudication"
        # The two readers of a disagreement agreed on an answer: one proposed, the other
        # confirmed (this read is the confirmer's; the audit event names both).
        CONSENSUS = "consensus", "Consensus"
        # A reported case corrected later (a pathology result, a prior, a second look).
        AMENDMENT = "amendment", "Amendment"

    class Reason(models.TextChoices):
        MOTION = "motion", "Motion / artefact"
        WRONG_SEQUENCE = "wrong_sequence", "Wrong sequence"
        POST_OPERATIVE = "post_operative", "Post-operative"
        AMBIGUOUS = "ambiguous", "Ambiguous"
        PRIOR_IMAGING = "prior_imaging", "Prior or follow-up imaging"
        PATHOLOGY = "pathology", "Pathology result"
        # Model errors: what the AI got wrong, so corrections say why the model failed.
        MISSED_TUMOUR = "missed_tumour", "Model error: missed tumour"
        FALSE_ALARM = "false_alarm", "Model error: false alarm"
        WRONG_TYPE = "wrong_type", "Model error: wrong tumour type"
        ARTEFACT_MISREAD = "artefact_misread", "Model error: artefact misread"
        OTHER = "other", "Other"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reviews")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    ai_label = models.CharField(max_length=16, choices=TumourClass.choices)
    # Set only when the reader answered before seeing the AI (blind first read).
    initial_label = models.CharField(max_length=16, choices=ReadLabel.choices, blank=True)
    label = models.CharField(max_length=16, choices=ReadLabel.choices)
    reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)
    note = models.TextField(blank=True)
    # Study cases: the slice the reader had on screen when submitting, the one that shows
    # the finding. The export labels this slice (the case's key slice when empty).
    key_scan = models.ForeignKey(
        Scan, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    poor_image_quality = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # Amendments excepted: a reported case can be amended more than once.
            models.UniqueConstraint(
                fields=["case", "kind"],
                condition=~models.Q(kind="amendment"),
                name="one_review_per_case_and_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label} by {self.reader}"

    @property
    def agrees_with_ai(self) -> bool:
        return self.label == self.ai_label


class CaseSkip(models.Model):
    """A reader put a case behind their other cases ("skip"), with a reason. The next-case
    claim hands them every case they have not skipped first; one row per case and reader,
    its time moved on by each new skip."""

    class Reason(models.TextChoices):
        NEEDS_PRIOR = "needs_prior", "Needs prior imaging or clinical details"
        EXPERTISE = "expertise", "Outside my expertise"
        IMAGE_PROBLEM = "image_problem", "Image does not display properly"
        LATER = "later", "Read it later"
        OTHER = "other", "Other"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="skips")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    skipped_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "reader"], name="one_skip_per_case_and_reader")
        ]

    def __str__(self) -> str:
        return f"{self.reader} skipped {self.case} ({self.reason})"
