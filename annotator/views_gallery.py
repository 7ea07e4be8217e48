"""The training gallery: labelled examples of every class, from the training split only.

The paper let its experts browse the training set at will and showed its scholars training samples
of each class before they started (section 3.2). The gallery shows single-location training samples
only: the study set holds single-location samples, and an example that mixes two locations would
teach neither of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from study.access import participant_for, study_for_role
from annotator.models import GalleryVisit, Participant, config_of
from annotator.panel_cache import display_size
from annotator.panel_composition import PANEL_TITLES, PANELS
from annotator.panels import panel_urls
from study.models import ReferenceLabel, Sample, Study
from study.roles import COORDINATOR, has_role


@dataclass(frozen=True)
class GalleryViewer:
    """Who looks at a study's gallery: a coordinator (``participant`` is None) or a participant."""

    study: Study
    participant: Participant | None


def gallery_viewer(request: HttpRequest, study_name: str) -> GalleryViewer:
    """Coordinators may always look; a participant of the study only while its gallery is open."""
    if has_role(request.user, COORDINATOR):
        return GalleryViewer(study_for_role(request, study_name, COORDINATOR), None)
    participant = participant_for(request, study_name)
    if not config_of(participant.study).gallery_open:
        raise Http404("The gallery of this study is closed.")
    return GalleryViewer(participant.study, participant)


def single_location_training_labels(study: Study) -> QuerySet[ReferenceLabel]:
    """The reference labels of the training samples of the study's data set that have exactly one."""
    single = (
        Sample.objects.filter(dataset_id=study.dataset_id, split=Sample.Split.TRAIN)
        .annotate(locations=Count("reference_labels"))
        .filter(locations=1)
    )
    return ReferenceLabel.objects.filter(sample__in=single)


@require_GET
@login_required
def gallery(request: HttpRequest, study: str) -> HttpResponse:
    viewer = gallery_viewer(request, study)
    config = config_of(viewer.study)
    counts = dict(
        single_location_training_labels(viewer.study)
        .values_list("class_index")
        .annotate(examples=Count("id"))
        .order_by()
    )
    classes = [
        {
            "index": label_class.index,
            "name": label_class.name,
            "description": config.description_of(label_class.index),
            "examples": counts.get(label_class.index, 0),
        }
        for label_class in viewer.study.label_set.classes
    ]
    return render(
        request,
        "annotator/gallery/index.html",
        {"study": viewer.study, "classes": classes, "is_participant": viewer.participant is not None},
    )


@require_GET
@login_required
def gallery_sample(request: HttpRequest, study: str, class_index: int, number: int) -> HttpResponse:
    """The ``number``-th (1-based, in import order) single-location training example of a class."""
    viewer = gallery_viewer(request, study)
    try:
        label_class = viewer.study.label_set.by_index(class_index)
    except KeyError:
        raise Http404("No such class.") from None
    examples = single_location_training_labels(viewer.study).filter(class_index=class_index).order_by("sample_id")
    total = examples.count()
    if not 1 <= number <= total:
        raise Http404("No such example.")
    sample = examples.select_related("sample")[number - 1].sample
    if viewer.participant is not None:
        GalleryVisit.objects.create(participant=viewer.participant, sample=sample, class_index=class_index)
    display_urls = panel_urls(viewer.study, sample, "display")
    full_urls = panel_urls(viewer.study, sample, "full")
    width, height = display_size(sample.height, sample.width)
    panels = [
        {"title": PANEL_TITLES[p], "url": display_urls[p], "full_url": full_urls[p], "width": width, "height": height}
        for p in PANELS
    ]
    return render(
        request,
        "annotator/gallery/sample.html",
        {
            "study": viewer.study,
            "label_class": label_class,
            "description": config_of(viewer.study).description_of(class_index),
            "number": number,
            "total": total,
            "previous": number - 1 if number > 1 else None,
            "next": number + 1 if number < total else None,
            "panels": panels,
            "is_participant": viewer.participant is not None,
        },
    )
