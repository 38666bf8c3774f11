from django import forms

from reviews.models import Case, TumourClass
from tumorapp.datasets.models import DatasetExport


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
        choices=TumourClass.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Final class (none ticked: all)",
    )
    correction = forms.ChoiceField(
        choices=DatasetExport.Correction.choices,
        initial=DatasetExport.Correction.ANY,
        label="Correction status",
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("reviewed_from"), data.get("reviewed_to")
        if start and end and start > end:
            self.add_error("reviewed_to", "The end is before the start.")
        return data
