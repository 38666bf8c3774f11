from django import forms
from django.utils import timezone

from reviews.models import Case, ReadLabel
from tumorapp.datasets.models import DatasetExport
from tumorapp.datasets.selectors import exports_earlier_than


class ExportForm(forms.Form):
    reviewed_from = forms.DateField(
        required=False, label="Reviewed from", widget=forms.DateInput(attrs={"type": "date"})
    )
    reviewed_to = forms.DateField(
        required=False, label="Reviewed to", widget=forms.DateInput(attrs={"type": "date"})
    )
    resolutions = forms.MultipleChoiceField(
        required=False,
        choices=Case.Resolution.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Label source (none ticked: all)",
    )
    labels = forms.MultipleChoiceField(
        required=False,
        # Unreadable / not a brain MRI is not a class: the data-hygiene box below includes it.
        choices=[c for c in ReadLabel.choices if c[0] != ReadLabel.UNREADABLE],
        widget=forms.CheckboxSelectMultiple,
        label="Final class (none ticked: all)",
    )
    correction = forms.ChoiceField(
        choices=DatasetExport.Correction.choices,
        initial=DatasetExport.Correction.ANY,
        label="Correction status",
    )
    include_unreadable = forms.BooleanField(
        required=False, label="Include images answered unreadable / not a brain MRI"
    )
    include_poor_quality = forms.BooleanField(
        required=False, label="Include reads marked poor image quality"
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("reviewed_from"), data.get("reviewed_to")
        if start and end and start > end:
            self.add_error("reviewed_to", "The end is before the start.")
        return data


class EarlierExportField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        finished = timezone.localtime(obj.finished_at)
        images = "image" if obj.total == 1 else "images"
        return f"{obj.short_version} · {finished:%Y-%m-%d %H:%M} · {obj.total} {images}"


class CompareForm(forms.Form):
    """Which earlier export an export's changes are measured against (empty: its parent)."""

    against = EarlierExportField(
        queryset=DatasetExport.objects.none(),
        to_field_name="public_id",
        required=False,
        label="Compare with",
        error_messages={"invalid_choice": "Choose an earlier export that succeeded."},
    )

    def __init__(self, *args, export: DatasetExport, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["against"]
        field.queryset = exports_earlier_than(export=export).order_by("-finished_at")
        parent = export.parent
        field.empty_label = f"its parent, {parent.short_version}" if parent else "(no parent)"
