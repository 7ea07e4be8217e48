"""The coordinator's forms (a study's configuration, its reading window and repeated cases, its
background form, its cohorts and how each is prepared, a batch of invitations) and the participant's
background form."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.forms import BaseFormSet, formset_factory, modelformset_factory
from django.utils import timezone
from django.utils.text import slugify

from annotator.assistance import AssistanceSettings
from annotator.models import (
    BACKGROUND_KEY,
    BACKGROUND_KINDS,
    DEFAULT_NUMBER_RANGE,
    MOST_NUMBER_ANSWER,
    Assistance,
    Cohort,
    StudyConfig,
    max_repeated_cases,
)
from annotator.models.assistance import MOST_CONTROLLED_FRACTION
from annotator.operations import MAX_INVITATIONS_AT_ONCE
from annotator.panel_composition import CHANNEL_SHOWN
from study.models import Study, name_validator
from study.store import CHANNELS

# A practice phase longer than this is a study of its own.
MAX_PRACTICE_CASES = 200
MOMENT_FORMAT = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True)
class FormError:
    """One thing a refused form says at its top: the field's label, the message, and the field's id to
    link to (empty for an error of the whole form)."""

    label: str
    message: str
    field_id: str = ""


def error_summary(form, row_label: str = "") -> list[FormError]:
    """Every error of a bound form or formset, in the order of its fields; a formset's rows are named
    by ``row_label(form, number)`` when the form class has one, else "Row N"."""
    if isinstance(form, BaseFormSet):
        errors = [FormError("", message) for message in form.non_form_errors()]
        for number, row in enumerate(form.forms, start=1):
            label = row.row_label(number) if hasattr(row, "row_label") else f"Row {number}"
            errors += error_summary(row, label)
        return errors
    errors = [FormError(row_label, message) for message in form.non_field_errors()]
    for field in form:
        label = f"{row_label}: {field.label}" if row_label else str(field.label)
        errors += [FormError(label, message, field.auto_id) for message in field.errors]
    return errors


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
        help_texts = {
            "instructions": "Keep them neutral: a participant who reads that they are compared with a model or "
            "take part in a competition may read differently. Every wording a participant was shown is "
            "recorded with them."
        }

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
                label = f"{channel} channel ({CHANNEL_SHOWN[channel]}), {end} percentile"
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
                CHANNEL_SHOWN[channel],
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


def moment_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENT_FORMAT)


class ReadingWindowForm(forms.ModelForm):
    """When participants may answer, until when invitations work, and how many cases every participant
    reads twice. Closing the study (a closing time now or past) while participants have answers they
    have not submitted needs ``confirm_close``; the number of repeated cases is fixed once anyone has
    answered, because it changes every participant's order."""

    confirm_close = forms.BooleanField(
        required=False,
        label="Close the study although participants have answers they have not submitted (their saved "
        "answers are kept)",
    )

    class Meta:
        model = StudyConfig
        fields = ["opens_at", "closes_at", "invitations_expire_at", "repeated_cases"]
        widgets = {
            "opens_at": moment_input(),
            "closes_at": moment_input(),
            "invitations_expire_at": moment_input(),
            "repeated_cases": forms.NumberInput(attrs={"min": 0}),
        }
        labels = {
            "opens_at": "Opens (UTC)",
            "closes_at": "Closes (UTC)",
            "invitations_expire_at": "Invitations expire (UTC)",
            "repeated_cases": "Cases read twice",
        }

    def __init__(self, *args, instance: StudyConfig, **kwargs):
        super().__init__(*args, instance=instance, **kwargs)
        self.was_closes_at = instance.closes_at
        self.n_cases = instance.study.items.count()
        most = max_repeated_cases(self.n_cases)
        field = self.fields["repeated_cases"]
        field.required = False
        field.widget.attrs["max"] = most
        field.help_text = (
            f"Each participant's order then holds these cases a second time, unmarked, at least a third of the "
            f"order after the first reading. At most {most} (a quarter of the study's {self.n_cases} cases); "
            "fixed once a participant has answered."
        )
        if instance.anyone_answered():
            field.disabled = True
            field.help_text = "Fixed: participants have answered already, and a change would change their order."

    def clean_repeated_cases(self) -> int:
        value = self.cleaned_data.get("repeated_cases") or 0
        most = max_repeated_cases(self.n_cases)
        if value > most:
            raise ValidationError(f"At most {most}: a quarter of the study's {self.n_cases} cases.")
        return value

    def unsubmitted(self) -> int:
        """How many participants have answers and have not submitted."""
        return (
            self.instance.study.participants.filter(submitted_at__isnull=True, answers__isnull=False)
            .distinct()
            .count()
        )

    def clean(self):
        cleaned = super().clean()
        closes = cleaned.get("closes_at")
        now = timezone.now()
        was_open = self.was_closes_at is None or self.was_closes_at > now
        if closes is not None and closes <= now and was_open and not cleaned.get("confirm_close"):
            waiting = self.unsubmitted()
            if waiting:
                self.add_error(
                    "closes_at",
                    f"This closes the study now: {waiting} participant{'s have' if waiting != 1 else ' has'} "
                    "answers not submitted yet. Tick the box to close it anyway (saved answers are kept), or "
                    "choose a later time.",
                )
        return cleaned


class CohortSettingsForm(forms.ModelForm):
    """How one cohort is prepared: its training phase and what its gallery shows."""

    practice_cases = forms.IntegerField(
        label="Practice cases", min_value=0, max_value=MAX_PRACTICE_CASES,
        widget=forms.NumberInput(attrs={"min": 0, "max": MAX_PRACTICE_CASES}),
    )

    class Meta:
        model = Cohort
        fields = ["training_required", "practice_cases", "gallery_scope"]
        labels = {
            "training_required": "Training phase before the study",
            "gallery_scope": "Gallery shows",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.fields:
            self.fields[name].widget.attrs["aria-label"] = f"{self.instance.name}: {self.fields[name].label}"

    def row_label(self, number: int) -> str:
        return f"Cohort {self.instance.name}"


# The cohorts are edited here and added by CohortForm: rows posted beyond the study's cohorts are ignored.
CohortSettingsFormSet = modelformset_factory(Cohort, form=CohortSettingsForm, extra=0, edit_only=True)


def background_key(label: str) -> str:
    """A column name made of a question's text, whole words up to 40 characters: "Years of experience
    with fluorescence microscopy" -> years_of_experience_with_fluorescence."""
    words = [word for word in re.split(r"[^a-z0-9]+", slugify(label).lower()) if word]
    if not words or not words[0][0].isalpha():
        words.insert(0, "q")
    key = words[0][:40]
    for word in words[1:]:
        if len(key) + 1 + len(word) > 40:
            break
        key = f"{key}_{word}"
    return key


def parse_options(text: str) -> list[str]:
    return [option.strip() for option in re.split(r"[;\n]", text or "") if option.strip()]


class BackgroundQuestionForm(forms.Form):
    """One question of the background form; a row without a question text is left out."""

    key = forms.CharField(required=False, widget=forms.HiddenInput)
    label = forms.CharField(
        label="Question", required=False, max_length=200, widget=forms.TextInput(attrs={"size": 40})
    )
    kind = forms.ChoiceField(label="Kind", choices=[(kind, kind) for kind in BACKGROUND_KINDS], initial="number")
    options = forms.CharField(
        label="Options (for a choice, separated by ;)", required=False, max_length=1000,
        widget=forms.TextInput(attrs={"size": 40}),
    )
    minimum = forms.FloatField(
        label="Lowest answer (for a number)", required=False, initial=DEFAULT_NUMBER_RANGE[0],
        min_value=-MOST_NUMBER_ANSWER, max_value=MOST_NUMBER_ANSWER,
        widget=forms.NumberInput(attrs={"step": "any", "class": "bound"}),
    )
    maximum = forms.FloatField(
        label="Highest answer (for a number)", required=False, initial=DEFAULT_NUMBER_RANGE[1],
        min_value=-MOST_NUMBER_ANSWER, max_value=MOST_NUMBER_ANSWER,
        widget=forms.NumberInput(attrs={"step": "any", "class": "bound"}),
    )
    required = forms.BooleanField(label="Required", required=False)

    def row_label(self, number: int) -> str:
        return f"Question {number}"

    def clean_key(self) -> str:
        # The column name a saved question had; anything else is made afresh from the question.
        key = self.cleaned_data.get("key") or ""
        return key if BACKGROUND_KEY.match(key) else ""

    def clean(self):
        cleaned = super().clean()
        label = (cleaned.get("label") or "").strip()
        if label and cleaned.get("kind") == "choice" and len(parse_options(cleaned.get("options"))) < 2:
            self.add_error("options", "A choice needs at least two options, separated by ;")
        if label and cleaned.get("kind") == "number":
            low, high = self.bounds()
            if low >= high:
                self.add_error("maximum", f"The highest answer ({high:g}) must be above the lowest ({low:g}).")
        return cleaned

    def bounds(self) -> tuple[float, float]:
        """The number question's lowest and highest answer, the defaults where left empty."""
        low, high = (self.cleaned_data.get(end) for end in ("minimum", "maximum"))
        low = DEFAULT_NUMBER_RANGE[0] if low is None else low
        high = DEFAULT_NUMBER_RANGE[1] if high is None else high
        return low, high


class BaseBackgroundFormSet(forms.BaseFormSet):
    def questions(self) -> list[dict]:
        """The questions as ``StudyConfig.background_fields`` keeps them, each with a unique column name:
        the one it had, so that renaming a question keeps its answers' column, or one made of its text."""
        questions, taken = [], set()
        for form in self.forms:
            label = (form.cleaned_data.get("label") or "").strip()
            if not label:
                continue
            key = form.cleaned_data.get("key") or background_key(label)
            base, suffix = key, 2
            while key in taken:
                key, suffix = f"{base[:37]}_{suffix}", suffix + 1
            taken.add(key)
            kind = form.cleaned_data["kind"]
            question = {
                "key": key,
                "label": label,
                "kind": kind,
                "options": parse_options(form.cleaned_data.get("options")) if kind == "choice" else [],
                "required": bool(form.cleaned_data.get("required")),
            }
            if kind == "number":
                low, high = form.bounds()
                question.update(minimum=whole_if_whole(low), maximum=whole_if_whole(high))
            questions.append(question)
        return questions


BackgroundFormSet = formset_factory(BackgroundQuestionForm, formset=BaseBackgroundFormSet, extra=2)


def whole_if_whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def background_initial(config: StudyConfig) -> list[dict]:
    return [
        {
            "key": field["key"],
            "label": field["label"],
            "kind": field["kind"],
            "options": "; ".join(field["options"]),
            "required": field["required"],
            "minimum": field.get("minimum"),
            "maximum": field.get("maximum"),
        }
        for field in config.background_fields or []
    ]


class BackgroundForm(forms.Form):
    """The participant's answers to the study's background questions, one field per question."""

    def __init__(self, *args, questions: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = questions
        for question in questions:
            required, label = question["required"], question["label"]
            if question["kind"] == "number":
                low, high = question["minimum"], question["maximum"]
                field = forms.FloatField(
                    label=label, required=required, min_value=low, max_value=high,
                    widget=forms.NumberInput(attrs={"step": "any"}),
                    help_text=f"From {low:g} to {high:g}.",
                )
            elif question["kind"] == "choice":
                choices = [("", "—")] + [(option, option) for option in question["options"]]
                field = forms.ChoiceField(label=label, required=required, choices=choices)
            else:
                field = forms.CharField(label=label, required=required, max_length=500)
            if required:
                field.error_messages["required"] = "Please answer this question."
            self.fields[question["key"]] = field

    def values(self) -> dict:
        """The answers by question name: numbers as numbers (whole ones as int), texts and choices as
        text, an optional question left open as None."""
        answers = {}
        for question in self.questions:
            value = self.cleaned_data.get(question["key"])
            if question["kind"] == "number" and value is not None and float(value).is_integer():
                value = int(value)
            answers[question["key"]] = None if value in ("", None) else value
        return answers


class AssistanceForm(forms.Form):
    """How the study's readers read with the machine (``annotator.assistance.set_assistance``): fixed,
    and shown greyed out with the reason, once anyone has answered."""

    design = forms.ChoiceField(label="Readers read", choices=Assistance.Design.choices)
    run = forms.ChoiceField(label="Suggestions of the model run", required=False)
    controlled_fraction = forms.FloatField(
        label="Controlled wrong suggestions (share of cases)", min_value=0, max_value=MOST_CONTROLLED_FRACTION,
        initial=0, widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="For studies of automation bias: cases the model gets right show its runner-up instead; "
        "participants are told after they submit.",
    )
    show_top_three = forms.BooleanField(label="Show the model's three most likely classes", required=False)
    block_size = forms.IntegerField(label="Crossover: cases per block", min_value=1, max_value=500, initial=10)
    washout_days = forms.IntegerField(label="Crossover: days between the sessions", min_value=0, max_value=365, initial=28)
    aided_instructions = forms.CharField(
        label="What readers are told about the suggestion", required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
    )

    def __init__(self, *args, study: Study, runs: list, assistance: Assistance, fixed: bool, **kwargs):
        initial = {
            "design": assistance.design, "run": assistance.source, "controlled_fraction": assistance.controlled_fraction,
            "show_top_three": assistance.show_top_three, "block_size": assistance.block_size,
            "washout_days": assistance.washout_days, "aided_instructions": assistance.aided_instructions,
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.study = study
        self.fields["run"].choices = [("", "—")] + [
            (run.name, run.name if run.complete else f"{run.name} ({run.covered} of {run.total} samples)") for run in runs
        ]
        self.fixed = fixed
        if fixed:
            for field in self.fields.values():
                field.disabled = True

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("design", Assistance.Design.NONE) != Assistance.Design.NONE and not cleaned.get("run"):
            self.add_error("run", "Choose the model run whose predictions the readers see.")
        return cleaned

    def settings(self) -> AssistanceSettings:
        data = self.cleaned_data
        return AssistanceSettings(
            design=data["design"], run=data.get("run") or "", controlled_fraction=data["controlled_fraction"],
            show_top_three=data["show_top_three"], block_size=data["block_size"], washout_days=data["washout_days"],
            aided_instructions=data.get("aided_instructions", "").strip(),
        )

