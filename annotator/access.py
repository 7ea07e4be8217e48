"""Who may see what of a study as a participant: their participation, the samples whose panels
they may open, and the gallery.

Every participant page fetches the participation through ``participant_for``, the gallery through
``gallery_viewer``, and a panel's sample is checked by ``may_see_sample``, so each rule is written
once. A page a person may not see answers 404 rather than 403 when its existence alone would tell
them something (another study, another participant's sample). The staff's roles are the study's
(``study.roles``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from annotator.models import Cohort, Participant, config_of
from annotator.panels import GALLERY, STAFF
from annotator.participant_flow import Standing
from study.models import Sample, Study
from study.roles import COORDINATOR, has_role_for, is_staff_of


def participations_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Participant]:
    """The studies the user takes part in, as their participations."""
    if not user.is_authenticated:
        return Participant.objects.none()
    return Participant.objects.filter(user=user)


def participant_for(request: HttpRequest, study_name: str) -> Participant:
    """The signed-in user's own participation in the named study, or 404."""
    participation = (
        participations_of(request.user)
        .select_related("study", "study__dataset", "cohort")
        .filter(study__name=study_name)
        .first()
    )
    if participation is None:
        raise Http404("You do not take part in this study.")
    return participation


def training_sample_visible(participant: Participant, sample: Sample) -> bool:
    """Whether a participant may see a training sample's panels: a single-location one while their
    cohort has a training phase or the gallery is open, a multi-location one only while the gallery
    is open to them with the whole training split."""
    single = sample.reference_labels.count() == 1
    if participant.cohort.training_required and single:
        return True
    if not config_of(participant.study).gallery_open:
        return False
    return single or participant.cohort.gallery_scope == Cohort.GalleryScope.ALL


def may_see_sample(request: HttpRequest, study: Study, sample: Sample) -> bool:
    """Staff see any sample of the study's data set; a participant sees the samples of their study
    set, and the training samples that their cohort's training phase and gallery show them. Anyone
    else gets Http404.

    A participant's own case is asked first: it is nearly every panel request a study serves, and it
    then costs two queries rather than the staff's role lookups before them."""
    participant = (
        participations_of(request.user).select_related("study", "cohort").filter(study=study).first()
    )
    if participant is not None and study.items.filter(sample_id=sample.pk).exists():
        return True
    if is_staff_of(request.user, study):
        return True
    if participant is None:
        raise Http404("You do not take part in this study.")
    return sample.split == Sample.Split.TRAIN and training_sample_visible(participant, sample)


@dataclass(frozen=True)
class GalleryViewer:
    """Who looks at a study's gallery: a coordinator (``participant`` is None) or a participant."""

    study: Study
    participant: Participant | None
    scope: str  # a Cohort.GalleryScope

    def context(self) -> dict:
        """What the gallery's pages say about the reading window: a participant sees the deadline."""
        return Standing.of(self.participant).context() if self.participant is not None else {}

    @property
    def occasion(self) -> str:
        return GALLERY if self.participant is not None else STAFF

    @property
    def query(self) -> str:
        """What a coordinator's gallery links carry to keep the scope they chose."""
        return "?scope=all" if self.participant is None and self.scope == Cohort.GalleryScope.ALL else ""


def gallery_viewer(request: HttpRequest, study_name: str) -> GalleryViewer:
    """Coordinators may always look, at either scope; a participant of the study only while its
    gallery is open, at their cohort's scope."""
    study = Study.objects.select_related("dataset").filter(name=study_name).first()
    if study is not None and has_role_for(request.user, COORDINATOR, study):
        scope = Cohort.GalleryScope.ALL if request.GET.get("scope") == "all" else Cohort.GalleryScope.SINGLE
        return GalleryViewer(study, None, scope)
    participant = participant_for(request, study_name)
    if not config_of(participant.study).gallery_open:
        raise Http404("The gallery of this study is closed.")
    return GalleryViewer(participant.study, participant, participant.cohort.gallery_scope)
