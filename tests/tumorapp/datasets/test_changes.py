"""What changed between two exports: the selector, the page, its CSV and the API."""

import csv
import io
import uuid

import pytest
from django.urls import reverse

from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tests.tumorapp.scans import images
from tumorapp.audit.models import AuditEvent
from tumorapp.datasets import manifest, selectors
from tumorapp.datasets.models import DatasetExport, ExportItem
from tumorapp.datasets.selectors import Change, ClassCount, export_changes
from tumorapp.datasets.services import export_create

pytestmark = pytest.mark.django_db


def _export(dave, capture, **choice) -> DatasetExport:
    with capture(execute=True):
        export = export_create(actor=dave, **choice)
    export.refresh_from_db()
    assert export.status == DatasetExport.Status.SUCCEEDED
    return export


class History:
    """Three exports, oldest first, and the reviewed cases behind them by final class."""

    def __init__(self, cases, zeroth, first, second):
        self.cases, self.zeroth, self.first, self.second = cases, zeroth, first, second

    def item(self, name, export=None) -> ExportItem:
        return ExportItem.objects.get(export=export or self.second, scan=self.cases[name].scan)

    def change(self, name, before, after, export) -> Change:
        item = self.item(name, export)
        scan_id = manifest.pseudonym("export-scan", str(self.cases[name].scan.public_id))
        return Change(item.image_sha256, item.split, before, after, scan_id)


@pytest.fixture
def history(media_dir, bob, alice, dave, django_capture_on_commit_callbacks):
    """zeroth: the pituitary case only; first: glioma, meningioma (but see below) and
    pituitary; second, after one more case and without the pituitary class: glioma,
    meningioma, no_tumor.

    A reported case cannot be relabelled on the site, so the one relabelled image is made
    by hand: ``first`` is edited to have given the meningioma image the class glioma, as an
    export built before a relabel would have."""
    single_reads_only()
    capture = django_capture_on_commit_callbacks
    cases = {}
    for seed, label in enumerate(("glioma", "meningioma", "pituitary"), start=11):
        case = upload(bob, f"slice-{seed}.png", images.png_bytes(96, 96, seed=seed), capture)
        cases[label] = read(case, alice, label)
    zeroth = _export(dave, capture, labels=["pituitary"])
    first = _export(dave, capture)
    ExportItem.objects.filter(export=first, scan=cases["meningioma"].scan).update(label="glioma")
    case = upload(bob, "slice-14.png", images.png_bytes(96, 96, seed=14), capture)
    cases["no_tumor"] = read(case, alice, "no_tumor")
    second = _export(dave, capture, labels=["glioma", "meningioma", "no_tumor"])
    assert (zeroth.parent, first.parent, second.parent) == (None, zeroth, first)
    return History(cases, zeroth, first, second)


def _classes(changes) -> dict:
    return {c.label: (c.before, c.after) for c in changes.classes}


# --- the selector ----------------------------------------------------------------------------


def test_changes_from_the_parent_name_every_added_removed_and_relabelled_image(history):
    h = history
    changes = export_changes(export=h.second)
    assert changes.parent == h.first
    assert changes.added.rows == [h.change("no_tumor", "", "no_tumor", h.second)]
    assert changes.removed.rows == [h.change("pituitary", "pituitary", "", h.first)]
    assert changes.relabelled.rows == [h.change("meningioma", "glioma", "meningioma", h.second)]
    assert (changes.added.total, changes.removed.total, changes.relabelled.total) == (1, 1, 1)
    # the stored summary, computed when the export was built, agrees
    assert h.second.changes == {"added": 1, "removed": 1, "relabelled": 1}
    assert changes.classes == [
        ClassCount("glioma", 2, 1),
        ClassCount("meningioma", 0, 1),
        ClassCount("pituitary", 1, 0),
        ClassCount("no_tumor", 0, 1),
    ]
    assert (changes.before_total, changes.after_total) == (3, 3)


def test_changes_against_another_earlier_export(history):
    h = history
    changes = export_changes(export=h.second, parent=h.zeroth)
    assert changes.added.rows == [
        h.change("glioma", "", "glioma", h.second),
        h.change("meningioma", "", "meningioma", h.second),
        h.change("no_tumor", "", "no_tumor", h.second),
    ]
    assert changes.removed.rows == [h.change("pituitary", "pituitary", "", h.zeroth)]
    assert changes.relabelled.rows == [] and changes.relabelled.total == 0
    assert _classes(changes)["pituitary"] == (1, 0)


def test_listed_rows_are_capped_and_the_total_counts_them_all(history):
    changes = export_changes(export=history.second, parent=history.zeroth, limit=1)
    assert changes.added.total == 3 and changes.added.truncated
    assert changes.added.rows == [history.change("glioma", "", "glioma", history.second)]
    assert not changes.removed.truncated


def test_a_first_export_has_nothing_to_compare_with(history):
    assert export_changes(export=history.zeroth) is None


# --- the page ----------------------------------------------------------------------------------


def _changes_url(export, against=None, name="datasets:export_changes") -> str:
    url = reverse(name, args=[export.public_id])
    return f"{url}?against={against.public_id}" if against else url


def test_the_export_page_links_to_its_changes(history, dave, client_for):
    page = client_for(dave).get(reverse("datasets:export_detail", args=[history.second.public_id]))
    assert _changes_url(history.second) in page.content.decode()


def test_the_changes_page_lists_each_section_and_the_classes(
    history, dave, client_for, django_assert_max_num_queries
):
    h = history
    client = client_for(dave)
    client.get(reverse("datasets:export_detail", args=[h.second.public_id]))  # session warm
    # whatever the exports' sizes: the export, its items and the other's (one query each),
    # the earlier exports offered; the rest is every page's (session, user, role, nav
    # alerts, session refresh in a savepoint)
    with django_assert_max_num_queries(11):
        page = client.get(_changes_url(h.second))
    assert page.status_code == 200
    html = page.content.decode()
    ctx = page.context["changes"]
    assert ctx.parent == h.first and "(its parent)" in html
    for name in ("no_tumor", "pituitary", "meningioma"):
        item = h.item(name, h.first if name == "pituitary" else h.second)
        assert item.image_sha256[:16] in html
        assert manifest.pseudonym("export-scan", str(item.scan.public_id)) in html
    assert h.item("glioma").image_sha256[:16] not in html  # unchanged: not listed
    assert "<del>glioma</del>" in html and "<ins>meningioma</ins>" in html
    # the scan's own id never reaches the data team
    for case in h.cases.values():
        assert str(case.scan.public_id) not in html
    # earlier exports are offered to compare with; the export itself is not
    choices = [str(c[0].value) for c in page.context["form"].fields["against"].choices if c[0]]
    assert choices == [str(h.first.public_id), str(h.zeroth.public_id)]


def test_the_page_compares_with_the_export_the_user_picks(history, dave, client_for):
    h = history
    page = client_for(dave).get(_changes_url(h.second, against=h.zeroth))
    changes = page.context["changes"]
    assert changes.parent == h.zeroth and changes.added.total == 3
    assert "(its parent)" not in page.content.decode()
    assert f"?against={h.zeroth.public_id}" in page.content.decode()  # the CSV link keeps it


@pytest.mark.parametrize("which", ["itself", "later", "failed", "unknown", "malformed"])
def test_only_an_earlier_succeeded_export_can_be_picked(history, dave, client_for, which):
    h = history
    failed = DatasetExport.objects.create(created_by=dave, status="failed")
    against = {
        "itself": h.first.public_id,
        "later": h.second.public_id,
        "failed": failed.public_id,
        "unknown": uuid.uuid4(),
        "malformed": "not-a-uuid",
    }[which]
    client = client_for(dave)
    page = client.get(
        reverse("datasets:export_changes", args=[h.first.public_id]), {"against": against}
    )
    # the page says so and shows the changes from the parent
    assert page.status_code == 200
    error = page.context["form"].errors["against"][0]
    assert error in page.content.decode()
    if which != "malformed":
        assert error == "Choose an earlier export that succeeded."
    assert page.context["changes"].parent == h.zeroth
    # the CSV and the API refuse
    csv_url = reverse("datasets:export_changes_csv", args=[h.first.public_id])
    assert client.get(csv_url, {"against": against}).status_code == 404
    api = client.get(f"/api/v1/datasets/{h.first.public_id}/changes/", {"against": against})
    assert api.status_code == 400 and api.json()["error"]["message"].startswith("against:")


def test_the_page_caps_each_section(history, dave, client_for, monkeypatch):
    monkeypatch.setattr(selectors, "CHANGES_LISTED", 1)
    page = client_for(dave).get(_changes_url(history.second, against=history.zeroth))
    assert "The first 1 of 3, by class; the CSV holds them all." in page.content.decode()


def test_a_first_export_says_it_has_no_parent(history, dave, client_for):
    page = client_for(dave).get(_changes_url(history.zeroth))
    assert page.status_code == 200 and "This export has no parent" in page.content.decode()
    assert page.context["changes"] is None


def test_an_export_still_building_has_no_changes_page(dave, client_for):
    export = DatasetExport.objects.create(created_by=dave, status="running")
    client = client_for(dave)
    assert client.get(_changes_url(export)).status_code == 404
    assert client.get(f"/api/v1/datasets/{export.public_id}/changes/").status_code == 404


# --- the CSV -----------------------------------------------------------------------------------


def _csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_holds_every_change_and_its_download_is_audited(
    history, dave, client_for, monkeypatch
):
    h = history
    monkeypatch.setattr(selectors, "CHANGES_LISTED", 1)  # the page's cap is not the CSV's
    response = client_for(dave).get(
        _changes_url(h.second, against=h.zeroth, name="datasets:export_changes_csv")
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"

    def row(change, name, before, after, export):
        item = h.item(name, export)
        return {
            "change": change,
            "image_sha256": item.image_sha256,
            "split": item.split,
            "label_before": before,
            "label_after": after,
        }

    assert _csv_rows(response) == [
        row("added", "glioma", "", "glioma", h.second),
        row("added", "meningioma", "", "meningioma", h.second),
        row("added", "no_tumor", "", "no_tumor", h.second),
        row("removed", "pituitary", "pituitary", "", h.zeroth),
    ]
    event = AuditEvent.objects.get(action="dataset.changes_downloaded")
    assert event.actor == dave and event.target_id == str(h.second.public_id)
    assert event.details == {
        "version_id": h.second.version_id,
        "against": h.zeroth.version_id,
        "added": 3,
        "removed": 1,
        "relabelled": 0,
    }


def test_the_csv_from_the_parent_shows_the_relabel(history, dave, client_for):
    h = history
    response = client_for(dave).get(_changes_url(h.second, name="datasets:export_changes_csv"))
    rows = _csv_rows(response)
    assert [(r["change"], r["label_before"], r["label_after"]) for r in rows] == [
        ("added", "", "no_tumor"),
        ("removed", "pituitary", ""),
        ("relabelled", "glioma", "meningioma"),
    ]
    assert rows[2]["image_sha256"] == h.item("meningioma").image_sha256


def test_no_csv_without_something_to_compare_with(history, dave, client_for):
    url = _changes_url(history.zeroth, name="datasets:export_changes_csv")
    assert client_for(dave).get(url).status_code == 404
    assert not AuditEvent.objects.filter(action="dataset.changes_downloaded").exists()


# --- the API -----------------------------------------------------------------------------------


def test_the_api_reports_the_changes(history, dave, api_for):
    h = history
    body = api_for(dave).get(f"/api/v1/datasets/{h.second.public_id}/changes/").json()
    item = h.item("meningioma")
    assert body["id"] == str(h.second.public_id) and body["version_id"] == h.second.version_id
    assert body["against"] == str(h.first.public_id)
    assert body["against_version_id"] == h.first.version_id
    assert body["relabelled"] == {
        "total": 1,
        "items": [
            {
                "image_sha256": item.image_sha256,
                "split": item.split,
                "label_before": "glioma",
                "label_after": "meningioma",
                "scan_id": manifest.pseudonym("export-scan", str(item.scan.public_id)),
            }
        ],
    }
    assert [i["label_after"] for i in body["added"]["items"]] == ["no_tumor"]
    assert [i["label_before"] for i in body["removed"]["items"]] == ["pituitary"]
    assert {c["label"]: (c["before"], c["after"]) for c in body["classes"]} == {
        "glioma": (2, 1),
        "meningioma": (0, 1),
        "pituitary": (1, 0),
        "no_tumor": (0, 1),
    }


def test_the_api_compares_with_another_export_and_says_when_it_cannot(history, dave, api_for):
    h = history
    api = api_for(dave)
    body = api.get(
        f"/api/v1/datasets/{h.second.public_id}/changes/", {"against": str(h.zeroth.public_id)}
    ).json()
    assert body["against"] == str(h.zeroth.public_id) and body["added"]["total"] == 3
    first = api.get(f"/api/v1/datasets/{h.zeroth.public_id}/changes/")
    assert first.status_code == 404 and "no parent" in first.json()["error"]["message"]


def test_the_api_schema_describes_the_changes(dave, client_for):
    schema = (
        client_for(dave).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    )
    operation = schema["paths"]["/api/v1/datasets/{public_id}/changes/"]["get"]
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["against"]
    assert "ExportChanges" in schema["components"]["schemas"]


# --- access ------------------------------------------------------------------------------------


def test_other_roles_cannot_see_the_changes(history, alice, bob, carol, eve, client_for, api_for):
    h = history
    urls = [
        _changes_url(h.second),
        _changes_url(h.second, name="datasets:export_changes_csv"),
    ]
    for user in (alice, bob, carol, eve):
        client = client_for(user)
        for url in urls:
            assert client.get(url).status_code == 403, (user, url)
        api = api_for(user).get(f"/api/v1/datasets/{h.second.public_id}/changes/")
        assert api.status_code == 403
    assert not AuditEvent.objects.filter(action="dataset.changes_downloaded").exists()


def test_anonymous_users_are_sent_to_sign_in(history, client):
    for name in ("datasets:export_changes", "datasets:export_changes_csv"):
        response = client.get(_changes_url(history.second, name=name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(f"/api/v1/datasets/{history.second.public_id}/changes/").status_code in (
        401,
        403,
    )
