"""Data hygiene in exports: unreadable / non-brain answers and poor-quality reads are left out
unless asked for, never become a training label, and the dataset card counts them."""

import json

import pytest

from reviews.models import Case, Review
from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tests.tumorapp.datasets.test_services import _export, _zip
from tests.tumorapp.scans import images

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed(media_dir, bob, alice, django_capture_on_commit_callbacks):
    """Three reported cases: a clean read, an image answered unreadable, a poor-quality read."""
    single_reads_only()
    capture = django_capture_on_commit_callbacks
    clean, coffee, blurred = (
        upload(bob, f"slice-{i}.png", images.png_bytes(96, 96, seed=40 + i), capture)
        for i in range(3)
    )
    read(clean, alice, clean.ai_label)
    read(coffee, alice, "unreadable", reason="other")
    read(blurred, alice, blurred.ai_label)
    Review.objects.filter(case=blurred).update(poor_image_quality=True)
    return clean, coffee, blurred


def _labels(export) -> list[str]:
    zf = _zip(export)
    return [json.loads(line)["final_label"] for line in zf.read("manifest.jsonl").splitlines()]


def test_by_default_an_export_leaves_them_out_and_the_card_counts_them(
    mixed, dave, django_capture_on_commit_callbacks
):
    clean, _, _ = mixed
    export = _export(dave, django_capture_on_commit_callbacks)
    assert export.total == 1
    assert _labels(export) == [clean.final_label]
    card = _zip(export).read("DATASET_CARD.md").decode()
    assert "answered unreadable / not a brain MRI: 1 — left out" in card
    assert "marked poor image quality by a reader: 1 — left out" in card


def test_asked_for_they_are_included_and_unreadable_sits_outside_every_split(
    mixed, dave, django_capture_on_commit_callbacks
):
    export = _export(
        dave,
        django_capture_on_commit_callbacks,
        include_unreadable=True,
        include_poor_quality=True,
    )
    assert export.total == 3
    zf = _zip(export)
    rows = [json.loads(line) for line in zf.read("manifest.jsonl").splitlines()]
    unreadable = next(r for r in rows if r["final_label"] == "unreadable")
    # ml reads only <train|val|test>/<class>/: the excluded/ folder is never a training label
    assert unreadable["path"].startswith("excluded/unreadable/")
    assert all(
        r["path"].split("/")[0] in ("train", "val", "test") for r in rows if r is not unreadable
    )
    assert sum(r["poor_image_quality"] for r in rows) == 1
    assert "unreadable" not in json.dumps(export.counts)
    card = zf.read("DATASET_CARD.md").decode()
    assert "answered unreadable / not a brain MRI: 1 — included" in card


def test_the_unreadable_answer_is_not_a_tumour_answer_for_quality(mixed):
    from tumorapp.quality.models import DailyCounts
    from tumorapp.quality.services import quality_refresh

    quality_refresh(full=True)
    confusion = {}
    for row in DailyCounts.objects.all():
        for final, by_ai in row.counts["confusion"].items():
            confusion[final] = sum(by_ai.values()) + confusion.get(final, 0)
    assert "unreadable" not in confusion
    assert sum(confusion.values()) == Case.objects.exclude(final_label="unreadable").count()
