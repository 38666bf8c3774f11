"""The answers a read can give, as plain names (no Django: ``tumorapp.quality.metrics`` and the
model comparison use them too; ``reviews.models`` makes the field choices of them).

A radiologist answers one of the model's classes, or "tumour, type unknown": a tumour whose
type one slice does not show. The AI never gives that answer. It counts as a tumour with no
subtype: in tumour sensitivity and specificity, never in the 4-class figures. An export files
it under a class folder of this name, which ``ml`` reads as "tumour present, subtype unknown".

A reader can also answer that the image is unreadable or not a brain MRI at all (a photograph,
another body part, a slice too degraded to read). That is an answer about the image, not about
a tumour: no tumour figure counts it (neither tumour nor no tumour) and it is never a training
label (exports leave such cases out unless asked, and then file them outside every split).
"""

from __future__ import annotations

# One definition with the ML side, which reads the export folders by these names.
from ml import CLASS_NAMES, NO_TUMOR, TUMOR_UNKNOWN

#: The model's classes, in the order of its outputs.
MODEL_CLASSES: tuple[str, ...] = CLASS_NAMES
#: Every answer about a tumour a reader can give.
READ_LABELS: tuple[str, ...] = (*MODEL_CLASSES, TUMOR_UNKNOWN)
#: The answer about the image itself: unreadable, or not a brain MRI.
UNREADABLE = "unreadable"

#: How each answer is shown (the field choices' labels, reviews.models).
DISPLAY_NAMES: dict[str, str] = {
    **{name: name.replace("_", " ").capitalize() for name in MODEL_CLASSES},
    NO_TUMOR: "No tumour",
    TUMOR_UNKNOWN: "Tumour, type unknown",
    UNREADABLE: "Unreadable / not a brain MRI",
}


def ai_answer(probabilities: dict[str, float], tumor_suspected: bool) -> str:
    """The AI's one answer, the one that agrees with its flag (``ml.predict``'s ``answer``):
    the most likely tumour class when a tumour is suspected (P(tumour) at or above the
    model's threshold), else no tumour. The most likely of the four classes can be "no
    tumour" on a flagged image (the threshold is set low, for sensitivity); that is never the
    answer shown, ranked, accepted or exported."""
    if not tumor_suspected:
        return NO_TUMOR
    tumours = [c for c in MODEL_CLASSES if c != NO_TUMOR]
    return max(tumours, key=lambda c: probabilities.get(c, 0.0))


def is_tumour(label: str) -> bool:
    """Whether a tumour answer says tumour (callers leave ``UNREADABLE`` out first: it says
    neither)."""
    return label not in (NO_TUMOR, UNREADABLE)


def agreed_label(first: str, second: str) -> str | None:
    """What two reads of one case agree on; None when they disagree.

    The same answer agrees. A tumour of a named type and a tumour of unknown type agree that
    there is a tumour, not on its type: the agreed answer is "tumour, type unknown", only
    what both readers support (an amendment can name the type later, from pathology or a
    prior). A tumour against no tumour, or two different types, disagree.
    """
    if first == second:
        return first
    if TUMOR_UNKNOWN in (first, second) and is_tumour(first) and is_tumour(second):
        return TUMOR_UNKNOWN
    return None
