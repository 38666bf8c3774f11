from django import forms

from tumorapp.quality.selectors import QualityFilters


class QualityFilterForm(forms.Form):
    # ISO dates: the browser's date input accepts no other format.
    start = forms.DateField(required=False, widget=forms.DateInput({"type": "date"}, "%Y-%m-%d"))
    end = forms.DateField(required=False, widget=forms.DateInput({"type": "date"}, "%Y-%m-%d"))
    model_version = forms.ChoiceField(required=False, label="Model version")

    def __init__(self, *args, versions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_version"].choices = [("", "All versions")] + [(v, v) for v in versions]

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError("The range starts after it ends.")
        return data

    def filters(self) -> QualityFilters:
        """The chosen filters; the default range fills in what was left blank or invalid."""
        default = QualityFilters.default()
        if not self.is_valid():
            return default
        data = self.cleaned_data
        return QualityFilters(
            start=data["start"] or default.start,
            end=data["end"] or default.end,
            model_version=data["model_version"] or "",
        )
