"""The training gallery: labelled examples of every class, from the training split only.

The paper let its experts browse the training set at will and showed its scholars training samples
of each class before they started (section 3.2). What a cohort's gallery shows is the coordinator's
choice (``Cohort.gallery_scope``): single-location training samples only (the study set holds
single-location samples, and an example that mixes two locations teaches neither as clearly), or the
whole training split as the paper's experts had it, where a multi-location sample is an example of
each of its classes and is marked with all of them. A coordinator sees either (``?scope=all``).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotator.access import gallery_viewer
from annotator.models import Cohort, GalleryVisit, config_of
from annotator.panel_cache import display_size
from annotator.panel_composition import PANEL_TITLES, PANELS
from annotator.panels import panel_urls
from annotator.training import gallery_labels, training_samples


@require_GET
@login_required
def gallery(request: HttpRequest, study: str) -> HttpResponse:
    viewer = gallery_viewer(request, study)
    config = config_of(viewer.study)
    labels = gallery_labels(viewer.study, viewer.scope)
    counts = dict(labels.values_list("class_index").annotate(examples=Count("id")).order_by())
    mixed = {}
    if viewer.scope == Cohort.GalleryScope.ALL:
        # Counted over the samples' labels, not over a join of labels with labels, which would count
        # a sample once per location it has.
        multi_location = training_samples(viewer.study).annotate(locations=Count("reference_labels")).filter(
            locations__gt=1
        )
        mixed = dict(
            labels.filter(sample__in=multi_location).values_list("class_index").annotate(examples=Count("id")).order_by()
        )
    classes = [
        {
            "index": label_class.index,
            "name": label_class.name,
            "description": config.description_of(label_class.index),
            "examples": counts.get(label_class.index, 0),
            "multi_location": mixed.get(label_class.index, 0),
        }
        for label_class in viewer.study.label_set.classes
    ]
    return render(
        request,
        "annotator/gallery/index.html",
        {
            "study": viewer.study,
            "classes": classes,
            "is_participant": viewer.participant is not None,
            "whole_split": viewer.scope == Cohort.GalleryScope.ALL,
            "query": viewer.query,
            **viewer.context(),
        },
    )


@require_GET
@login_required
def gallery_sample(request: HttpRequest, study: str, class_index: int, number: int) -> HttpResponse:
    """The ``number``-th (1-based, in import order) training example of a class in the viewer's scope;
    a multi-location one names all its classes."""
    viewer = gallery_viewer(request, study)
    label_set = viewer.study.label_set
    try:
        label_class = label_set.by_index(class_index)
    except KeyError:
        raise Http404("No such class.") from None
    examples = gallery_labels(viewer.study, viewer.scope).filter(class_index=class_index).order_by("sample_id")
    total = examples.count()
    if not 1 <= number <= total:
        raise Http404("No such example.")
    sample = examples.select_related("sample")[number - 1].sample
    locations = [label_set.by_index(i).name for i in sample.class_indices]
    if viewer.participant is not None:
        GalleryVisit.objects.create(participant=viewer.participant, sample=sample, class_index=class_index)
    display_urls = panel_urls(viewer.study, sample, "display", occasion=viewer.occasion)
    full_urls = panel_urls(viewer.study, sample, "full", occasion=viewer.occasion)
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
            "locations": locations if len(locations) > 1 else [],
            "query": viewer.query,
            **viewer.context(),
        },
    )
