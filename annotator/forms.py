"""The coordinator's forms: a study's configuration, a new cohort, a batch of invitations."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from annotator.models import Cohort, StudyConfig
from annotator.operations import MAX_INVITATIONS_AT_ONCE
from study.models import Study, name_validator
from study.store import CHANNEL_MEANING, CHANNELS


def description_field(class_index: int) -> str:
    return f"description_{class_index}"


def percentile_field(channel: str, end: str) -> str:
    return f"{channel}_{end}"


class StudyConfigForm(forms.ModelForm):
    """The presentation of a study: instructions, one description per class of the study's label set,
    the contrast of each channel as [low, high] percentiles, the gallery and whether answers may change.

    Each class description and each percentile is a field of its own, so an error names exactly the
    field it is about.
    """

    class Meta:
        model = StudyConfig
        fields = ["instructions", "gallery_open", "answers_changeable"]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 6, "cols": 80})}
        labels = {"gallery_open": "Gallery open (participants may browse the labelled training samples)"}

    def __init__(self, *args, instance: StudyConfig, **kwargs):
        super().__init__(*args, instance=instance, **kwargs)
        for label_class in instance.study.label_set.classes:
            self.fields[description_field(label_class.index)] = forms.CharField(
                label=label_class.name,
                required=False,
                initial=instance.description_of(label_class.index),
                widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
            )
        for channel in CHANNELS:
            low, high = instance.display_percentiles.get(channel, [None, None])
            for end, initial in (("low", low), ("high", high)):
                label = f"{channel} ({CHANNEL_MEANING[channel]}), {end} percentile"
                self.fields[percentile_field(channel, end)] = forms.FloatField(
                    label=label,
                    min_value=0,
                    max_value=100,
                    initial=initial,
                    # The table's row and column headers label the input on the page.
                    widget=forms.NumberInput(attrs={"aria-label": label, "step": "any"}),
                )

    def description_fields(self) -> list[forms.BoundField]:
        return [self[description_field(c.index)] for c in self.instance.study.label_set.classes]

    def percentile_rows(self) -> list[tuple[str, str, forms.BoundField, forms.BoundField]]:
        return [
            (
                channel,
                CHANNEL_MEANING[channel],
                self[percentile_field(channel, "low")],
                self[percentile_field(channel, "high")],
            )
            for channel in CHANNELS
        ]

    def clean(self):
        cleaned = super().clean()
        for channel in CHANNELS:
            low = cleaned.get(percentile_field(channel, "low"))
            high = cleaned.get(percentile_field(channel, "high"))
            if low is not None and high is not None and low >= high:
                self.add_error(
                    percentile_field(channel, "high"),
                    f"the high percentile ({high:g}) must be above the low one ({low:g})",
                )
        if not self.errors:
            # The JSON fields are assembled here so that the model's own validation sees them.
            self.instance.class_descriptions = {
                str(c.index): text
                for c in self.instance.study.label_set.classes
                if (text := cleaned.get(description_field(c.index), "").strip())
            }
            self.instance.display_percentiles = {
                channel: [cleaned[percentile_field(channel, end)] for end in ("low", "high")]
                for channel in CHANNELS
            }
        return cleaned


class CohortForm(forms.Form):
    name = forms.CharField(
        label="New cohort",
        max_length=Cohort._meta.get_field("name").max_length,
        validators=[name_validator],
        help_text="e.g. expert, scholar",
    )

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.study = study

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if self.study.cohorts.filter(name=name).exists():
            raise ValidationError(f"The study has a cohort called {name!r} already.")
        return name


class InviteForm(forms.Form):
    cohort = forms.ChoiceField(help_text="Add cohorts on the study's page.")
    count = forms.IntegerField(
        label="Number of participants", min_value=1, max_value=MAX_INVITATIONS_AT_ONCE, initial=1
    )

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cohort"].choices = [(name, name) for name in study.cohorts.values_list("name", flat=True)]
