"""The suggestions of an assisted study come from a model run's predictions: this adapts ``models_zoo``'s
runs to ``annotator.assistance.SuggestionSource`` (the setting ``ASSISTANCE_SUGGESTION_SOURCE``), so that
neither app imports the other."""

from __future__ import annotations

from django.db.models import Count, Q

from annotator.assistance import ModelOutput, RunCoverage
from models_zoo.models import ModelRun, Prediction
from study.models import Study


class ModelRunSuggestions:
    """Any run with predictions for the study's samples: trained here, released weights, or imported."""

    def runs(self, study: Study) -> list[RunCoverage]:
        total = study.items.count()
        runs = (
            ModelRun.objects.for_dataset(study.dataset_id)
            .annotate(covered=Count("predictions", filter=Q(predictions__sample__study_items__study=study)))
            .filter(covered__gt=0)
            .order_by("name")
        )
        return [RunCoverage(run.name, run.covered, total) for run in runs]

    def outputs(self, study: Study, run: str) -> dict[int, ModelOutput]:
        if not ModelRun.objects.filter(name=run).exists():
            raise KeyError(run)
        item_of = dict(study.items.values_list("sample_id", "pk"))
        predictions = Prediction.objects.filter(run__name=run, sample_id__in=item_of)
        return {
            item_of[prediction.sample_id]: ModelOutput(prediction.top_class, prediction.probabilities)
            for prediction in predictions
        }

