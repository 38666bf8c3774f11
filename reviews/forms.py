from django import forms

from reviews.models import Case, ReadLabel, Review, SiteOptions, TumourClass


class WorklistFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "All open")] + Case.Status.choices, required=False)
    predicted = forms.ChoiceField(
        choices=[("", "Any class")] + TumourClass.choices, required=False, label="AI class"
    )
    since = forms.DateField(
        required=False, label="Opened since", widget=forms.DateInput(attrs={"type": "date"})
    )
    reader = forms.ChoiceField(required=False, label="Claimed by")
    assigned = forms.ChoiceField(required=False, label="Assigned to")

    def __init__(self, *args, readers=(), **kwargs):
        super().__init__(*args, **kwargs)
        people = [(str(r.pk), str(r)) for r in readers]
        self.fields["reader"].choices = [("", "Anyone")] + people
        self.fields["assigned"].choices = [("", "Anyone")] + people


class ReviewForm(forms.Form):
    label = forms.ChoiceField(choices=ReadLabel.choices)
    reason = forms.ChoiceField(choices=[("", "—")] + Review.Reason.choices, required=False)
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )
    poor_image_quality = forms.BooleanField(required=False, label="Poor image quality")
    key_slice = forms.UUIDField(required=False, widget=forms.HiddenInput)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=None, required=False, empty_label="Everyone")

    def __init__(self, *args, readers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = readers


class AmendForm(forms.Form):
    label = forms.ChoiceField(choices=ReadLabel.choices)
    reason = forms.ChoiceField(choices=Review.Reason.choices)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    key_slice = forms.UUIDField(required=False, widget=forms.HiddenInput)


class InitialLabelForm(forms.Form):
    label = forms.ChoiceField(choices=ReadLabel.choices)


class SiteOptionsForm(forms.ModelForm):
    class Meta:
        model = SiteOptions
        fields = [
            "double_read_rate",
            "blind_first_read",
            "lease_minutes",
            "escalate_after_minutes",
            "consensus",
            "allow_colour_images",
            "clinical_link",
        ]
        labels = {
            "double_read_rate": "Share of cases double read (0–1)",
            "blind_first_read": "Blind first read (hide the AI until the reader answers)",
            "lease_minutes": "Claim lease (minutes)",
            "escalate_after_minutes": "Escalate cases waiting longer than (minutes)",
            "consensus": "The two readers of a disagreement settle it together",
            "allow_colour_images": "Accept colour images (held out of the worklist until a "
            "technologist confirms each)",
            "clinical_link": "Keep the clinical link of studies received from the PACS (accession, "
            "patient ID, original UIDs; encrypted) so results go back to the patient's study; "
            "off: de-identify everything",
        }


class ConsensusForm(forms.Form):
    label = forms.ChoiceField(choices=ReadLabel.choices)
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )
