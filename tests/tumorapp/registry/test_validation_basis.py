"""The Models page says what each model's validation figures were measured on: the sources
and exports of its validation split, how many images, and whether the parent's training
images were kept out (issue 17, item 2)."""

import json

import pytest
from django.urls import reverse

from ml import artefact
from tumorapp.registry.services import model_register

pytestmark = pytest.mark.django_db

SPLIT_COUNTS = {
    "train": {"sartaj-512": {"glioma": 50}, "export:export-0123456789ab": {"glioma": 9}},
    "val": {
        "sartaj-512": {"glioma": 20, "pituitary": 10},
        "export:export-0123456789ab": {"glioma": 4, "no_tumor": 8},
    },
}


def _with(folder, **top):
    path = folder / artefact.MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(top)
    path.write_text(json.dumps(manifest))
    return folder


def test_each_figure_says_what_it_was_measured_on(model_folder, carol, client_for):
    parent = model_register(path=model_folder("parent", training={"data": ["/data/sartaj"]}))
    child_folder = _with(
        model_folder("child", training={"split_counts": SPLIT_COUNTS, "init_from": "parent"}),
        validation={"n": 42, "accuracy": 0.9, "tumour": {"sensitivity": 0.95}},
        parent_training_images={"parent_images": 100, "rows_kept_out_of_validation_and_test": 7},
    )
    child = model_register(path=child_folder, parent=parent)
    old_child = model_register(
        path=model_folder("old-child", training={"init_from": "parent"}), parent=parent
    )

    page = client_for(carol).get(reverse("registry:model_list")).content.decode()
    expected = (
        "validation split of export 0123456789ab 12, sartaj-512 30; n=42; the parent&#x27;s "
        "training images excluded (7 of these data&#x27;s images kept out"
    )
    assert "Validation measured on" in page and expected in page
    # a model with per-class counts only names its data folder
    assert "validation split of sartaj; n=10" in page
    # a child whose manifest predates the check says so, never that they were excluded
    assert "the parent&#x27;s training images were not checked" in page

    detail = client_for(carol).get(reverse("registry:model_detail", args=[child.public_id]))
    assert expected in detail.content.decode()
    old = client_for(carol).get(reverse("registry:model_detail", args=[old_child.public_id]))
    assert "validation split of base; n=10; the parent&#x27;s training images were not" in (
        old.content.decode()
    )
