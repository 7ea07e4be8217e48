"""What the coordinator's pages and commands share: cohorts, invitations and progress (the answers as
CSV files are in ``annotator.answer_files``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from annotator.assistance import assistance_of, final_readings
from annotator.contention import atomic_with_retries
from annotator.models import Answer, Cohort, GalleryVisit, Invitation, Participant, config_of
from study.models import Study, name_validator
from study.operations import OperationError

MAX_INVITATIONS_AT_ONCE = 200
# A projection further out than ten years says only "not before the close".
MOST_PROJECTED_SECONDS = 10 * 365 * 86_400


def ensure_cohort(study: Study, name: str) -> Cohort:
    """The study's cohort called ``name`` (e.g. expert, scholar), created when it does not exist."""
    name = name.strip()
    try:
        name_validator(name)
    except ValidationError:
        raise OperationError(
            f"cohort {name!r}: use letters, digits, '.', '_' and '-' only, starting with a letter or digit"
        ) from None
    if len(name) > Cohort._meta.get_field("name").max_length:
        raise OperationError(f"cohort {name!r}: at most {Cohort._meta.get_field('name').max_length} characters")
    cohort, _ = Cohort.objects.get_or_create(study=study, name=name)
    return cohort


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation with its token, which exists only here: the database keeps its hash."""

    participant: Participant
    invitation: Invitation
    token: str
    path: str  # the site-relative address of the link, e.g. /invitation/<token>/


def next_pseudonyms(study: Study, cohort: Cohort, count: int) -> list[str]:
    """``count`` new pseudonyms numbered on from the cohort's highest one: expert-01, expert-02, ..."""
    pattern = re.compile(rf"^{re.escape(cohort.name)}-(\d+)$")
    taken = [pattern.match(p) for p in study.participants.values_list("pseudonym", flat=True)]
    start = max((int(match.group(1)) for match in taken if match), default=0) + 1
    return [f"{cohort.name}-{number:02d}" for number in range(start, start + count)]


def invite(study: Study, cohort_name: str, count: int) -> list[IssuedInvitation]:
    """``count`` new participants of the cohort (created when missing), each with a single-use link."""
    if not 1 <= count <= MAX_INVITATIONS_AT_ONCE:
        raise OperationError(f"count: invite between 1 and {MAX_INVITATIONS_AT_ONCE} participants at a time")
    with transaction.atomic():
        # Two coordinators inviting at once must not number the same pseudonym twice.
        Study.objects.select_for_update().get(pk=study.pk)
        cohort = ensure_cohort(study, cohort_name)
        pseudonyms = next_pseudonyms(study, cohort, count)
        limit = Participant._meta.get_field("pseudonym").max_length
        if len(pseudonyms[-1]) > limit:
            raise OperationError(f"cohort {cohort.name!r}: too long to make pseudonyms of at most {limit} characters")
        issued = []
        for pseudonym in pseudonyms:
            participant = Participant.objects.create(
                study=study, cohort=cohort, pseudonym=pseudonym, order_seed=Participant.new_order_seed()
            )
            invitation, token = Invitation.issue(participant)
            path = reverse("annotator:accept_invitation", args=[token])
            issued.append(IssuedInvitation(participant, invitation, token, path))
    return issued


@sensitive_variables()
def use_invitation(invitation: Invitation, user, password: str) -> bool:
    """Give the invitation's participant ``user`` (a new account, or theirs) with ``password``, and
    mark the invitation used; False when a second submission, another tab or a revocation got to it
    first, or the user name was taken meanwhile.

    The claim is the transaction's first statement, a conditional UPDATE: of any number of
    submissions at once exactly one changes the row, on every database. On SQLite the transaction
    then holds the write lock from its start: one that read first and wanted to write later would
    be refused ("database is locked") instead of waiting. The password is hashed before, outside it.
    """
    user.set_password(password)

    def claim() -> bool:
        claimed = Invitation.objects.filter(
            pk=invitation.pk, used_at__isnull=True, revoked_at__isnull=True
        ).update(used_at=timezone.now())
        if not claimed:
            return False
        user.save()
        Participant.objects.filter(pk=invitation.participant_id).update(user=user)
        return True

    try:
        return atomic_with_retries(claim)
    except IntegrityError:
        return False


@dataclass(frozen=True)
class ParticipantProgress:
    pseudonym: str
    cohort: str
    answered: int  # cases answered, each reading of a repeated case counting as a case
    total: int  # the participant's cases: the study's samples and the second readings
    last_activity: datetime | None  # the latest answer, gallery visit or submission
    active_seconds: float
    submitted: bool
    simulated: bool
    projected_finish: datetime | None = None  # at their pace so far, when they would answer the last case
    at_risk: str = ""  # why they may not finish before the study closes; empty when on course
    reads: str = ""  # an assisted study's: how they read (the arm, the session)

    @property
    def percent(self) -> float:
        return 100.0 * self.answered / self.total if self.total else 0.0

    @property
    def active_time(self) -> str:
        """The active time as h:mm:ss."""
        minutes, seconds = divmod(round(self.active_seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}"


@dataclass(frozen=True)
class SampleProgress:
    """How many have answered one sample of the study. Its reference class is not here: coordinators
    run the study blind to the truth, as participants do; it is the analyst's (``analysis``)."""

    position: int  # the sample's position in the study set (as in the study's exported sample list)
    source_id: str
    answered: int


@dataclass(frozen=True)
class StudyProgress:
    study: Study
    participants: list[ParticipantProgress]
    samples: list[SampleProgress]
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    window_state: str = "open"
    elapsed_fraction: float | None = None  # of the reading window, when it has a closing time
    design: str = "none"  # the study's assistance (annotator.models.Assistance.Design)

    @property
    def elapsed_percent(self) -> float:
        return 100.0 * (self.elapsed_fraction or 0.0)

    @property
    def at_risk(self) -> list[ParticipantProgress]:
        return [person for person in self.participants if person.at_risk]

    @property
    def answered(self) -> int:
        return sum(p.answered for p in self.participants)

    @property
    def expected(self) -> int:
        return sum(p.total for p in self.participants)

    @property
    def submitted(self) -> int:
        return sum(p.submitted for p in self.participants)


def window_start(study: Study) -> datetime:
    """When the reading window began: its opening time, or the study's creation without one."""
    return config_of(study).opens_at or study.created_at


def elapsed_fraction(study: Study, now: datetime) -> float | None:
    """How much of the reading window has gone by (0 to 1), or None for a study that never closes."""
    config = config_of(study)
    if config.closes_at is None:
        return None
    start = window_start(study)
    length = (config.closes_at - start).total_seconds()
    if length <= 0:
        return 1.0
    return min(1.0, max(0.0, (now - start).total_seconds() / length))


# Nobody is behind before this share of the reading window has gone by, nor by less than this share.
RISK_AFTER_ELAPSED = 0.1


def risk_of_not_finishing(
    answered: int, total: int, first_answer: datetime | None, closes_at: datetime | None, elapsed: float | None,
    now: datetime,
) -> tuple[datetime | None, str]:
    """(the projected time of their last answer at their pace so far, why they may not finish or "").

    At risk is a participant who has not finished while the study has a closing time, once a tenth of
    the window has gone by, and either has answered a share of their cases more than a tenth smaller
    than the share of the window gone by, or, at the pace from their first answer to now, would answer
    the last case after the close. Minutes after the window opens, nobody has had the time to be behind.
    """
    if closes_at is None or elapsed is None or answered >= total:
        return None, ""
    projected = None
    if answered and first_answer is not None:
        per_case = (now - first_answer).total_seconds() / answered
        projected = now + timedelta(seconds=min(per_case * (total - answered), MOST_PROJECTED_SECONDS))
    share = answered / total if total else 1.0
    if now >= closes_at:
        return projected, f"the study closed with {total - answered} of their cases unanswered"
    if elapsed < RISK_AFTER_ELAPSED:
        return projected, ""
    if share < elapsed - RISK_AFTER_ELAPSED:
        return projected, f"behind: {share:.0%} answered with {elapsed:.0%} of the window gone"
    if projected is not None and projected > closes_at:
        return projected, "at their pace so far they finish after the close"
    return projected, ""


def reads(assistance, participant: Participant) -> str:
    """How the participant reads an assisted study, in words for the progress page."""
    if assistance.sequential:
        return "alone, then with the suggestion"
    if assistance.crossover:
        session = 2 if participant.first_session_submitted_at else 1
        group = "" if participant.sequence_group is None else f", starting {('unaided', 'aided')[participant.sequence_group]}"
        return f"session {session}{group}"
    return ""


def study_progress(study: Study, now: datetime | None = None) -> StudyProgress:
    now = now or timezone.now()
    config = config_of(study)
    n_items = study.items.count()
    assistance = assistance_of(study)
    answers = {
        row["participant"]: row
        for row in Answer.readings.filter(participant__study=study)
        .values("participant")
        .annotate(
            answered=Count("id", filter=final_readings(assistance, 1)),
            answered_in_second_session=Count("id", filter=final_readings(assistance, 2)),
            active=Sum("active_seconds"),
            last=Max("answered_at"),
            first=Min("answered_at"),
        )
    }
    visits = dict(
        GalleryVisit.objects.filter(participant__study=study)
        .values("participant")
        .annotate(last=Max("visited_at"))
        .values_list("participant", "last")
    )
    total = n_items + len(config.repeated_item_indices(n_items))
    elapsed = elapsed_fraction(study, now)
    people = []
    for participant in study.participants.select_related("cohort").order_by("cohort__name", "pseudonym"):
        row = answers.get(participant.pk, {})
        moments = [row.get("last"), visits.get(participant.pk), participant.submitted_at]
        # A crossover reader's progress is that of the session they read now.
        answered = row.get("answered_in_second_session" if participant.current_session == 2 else "answered", 0)
        projected, risk = (None, "")
        if not participant.is_submitted:
            projected, risk = risk_of_not_finishing(answered, total, row.get("first"), config.closes_at, elapsed, now)
        people.append(
            ParticipantProgress(
                pseudonym=participant.pseudonym,
                cohort=participant.cohort.name,
                answered=answered,
                total=total,
                last_activity=max((m for m in moments if m is not None), default=None),
                active_seconds=row.get("active") or 0.0,
                submitted=participant.is_submitted,
                simulated=participant.simulated,
                projected_finish=projected,
                at_risk=risk,
                reads=reads(assistance, participant),
            )
        )
    items = (
        study.items.select_related("sample")
        .annotate(answered=Count("answers", filter=Q(answers__repeat=0)))
        .order_by("position")
    )
    samples = [SampleProgress(item.position, item.sample.source_id, item.answered) for item in items]
    return StudyProgress(
        study, people, samples, opens_at=config.opens_at, closes_at=config.closes_at,
        window_state=config.window_state(now), elapsed_fraction=elapsed, design=assistance.design,
    )


@dataclass(frozen=True)
class StudySummary:
    study: Study
    samples: int
    participants: int
    submitted: int
    answers: int

    @property
    def percent_answered(self) -> float:
        expected = self.samples * self.participants
        return 100.0 * self.answers / expected if expected else 0.0


def study_summaries(studies: QuerySet[Study]) -> list[StudySummary]:
    """Each of ``studies`` with how far its participants have got, for the coordinator's list."""
    studies = studies.select_related("dataset").annotate(
        n_participants=Count("participants", distinct=True),
        n_submitted=Count("participants", filter=Q(participants__submitted_at__isnull=False), distinct=True),
    )
    samples = dict(Study.objects.annotate(n=Count("items")).values_list("pk", "n"))
    answers = dict(
        Answer.objects.values("participant__study").annotate(n=Count("id")).values_list("participant__study", "n")
    )
    return [
        StudySummary(study, samples.get(study.pk, 0), study.n_participants, study.n_submitted, answers.get(study.pk, 0))
        for study in studies
    ]
