"""The annotator's tables in the Django admin.

Answers and their history are read-only here: an acknowledged answer changes only through the
participant's own page, so that its history stays whole. Invitations are issued from the invite page
or command (the token exists only then) and never show their token hash.
"""

from django.contrib import admin

from annotator.models import (
    Answer,
    AnswerHistory,
    CaseOpening,
    Cohort,
    GalleryVisit,
    InstructionsSeen,
    Invitation,
    PanelToken,
    Participant,
    PracticeAnswer,
    StudyConfig,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StudyConfig)
class StudyConfigAdmin(admin.ModelAdmin):
    list_display = (
        "study", "gallery_open", "answers_changeable", "opens_at", "closes_at", "repeated_cases", "updated_at"
    )
    list_filter = ("gallery_open", "answers_changeable")
    search_fields = ("study__name",)


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ("name", "study", "training_required", "practice_cases", "gallery_scope")
    list_filter = ("study", "training_required", "gallery_scope")
    search_fields = ("name", "study__name")


class InvitationInline(admin.TabularInline):
    model = Invitation
    fields = ("state", "created_at", "used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("pseudonym", "study", "cohort", "user", "simulated", "submitted_at", "created_at")
    list_filter = ("study", "cohort", "simulated", ("submitted_at", admin.EmptyFieldListFilter))
    search_fields = ("pseudonym", "user__username", "study__name")
    list_select_related = ("study", "cohort", "user")
    raw_id_fields = ("user",)
    readonly_fields = ("order_seed", "created_at", "background_given_at", "training_finished_at")
    inlines = [InvitationInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("participant", "state", "created_at", "used_at", "revoked_at")
    list_filter = (
        "participant__study",
        ("used_at", admin.EmptyFieldListFilter),
        ("revoked_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("participant__pseudonym", "participant__study__name")
    list_select_related = ("participant__study",)
    fields = ("participant", "state", "created_at", "used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected open invitations")
    def revoke(self, request, queryset):
        revoked = 0
        for invitation in queryset.filter(used_at__isnull=True, revoked_at__isnull=True):
            invitation.revoke()
            revoked += 1
        self.message_user(request, f"Revoked {revoked} invitations.")


class AnswerHistoryInline(admin.TabularInline):
    model = AnswerHistory
    fields = ("class_index", "answered_at", "active_seconds")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Answer)
class AnswerAdmin(ReadOnlyAdmin):
    list_display = ("participant", "item", "repeat", "class_index", "answered_at", "active_seconds", "changes")
    list_filter = ("participant__study", "participant__cohort", "repeat")
    search_fields = ("participant__pseudonym", "item__sample__source_id")
    list_select_related = ("participant__study", "item__study")
    inlines = [AnswerHistoryInline]

    def get_queryset(self, request):
        # Both readings of a repeated case, not only the first ones that Answer.objects holds.
        return Answer.readings.select_related(*self.list_select_related)


@admin.register(AnswerHistory)
class AnswerHistoryAdmin(ReadOnlyAdmin):
    list_display = ("answer", "class_index", "answered_at", "active_seconds")
    list_filter = ("answer__participant__study",)
    search_fields = ("answer__participant__pseudonym",)
    list_select_related = ("answer__participant__study", "answer__item__study")


@admin.register(GalleryVisit)
class GalleryVisitAdmin(ReadOnlyAdmin):
    list_display = ("participant", "sample", "class_index", "visited_at")
    list_filter = ("participant__study",)
    search_fields = ("participant__pseudonym", "sample__source_id")
    list_select_related = ("participant__study", "sample__dataset")


@admin.register(PanelToken)
class PanelTokenAdmin(ReadOnlyAdmin):
    list_display = ("study", "sample", "panel", "resolution", "created_at")
    list_filter = ("study", "panel", "resolution")
    search_fields = ("sample__source_id",)
    list_select_related = ("study", "sample__dataset")


@admin.register(CaseOpening)
class CaseOpeningAdmin(ReadOnlyAdmin):
    list_display = ("participant", "item", "opened_at")
    list_filter = ("participant__study",)
    search_fields = ("participant__pseudonym",)
    list_select_related = ("participant__study", "item__study")


@admin.register(PracticeAnswer)
class PracticeAnswerAdmin(ReadOnlyAdmin):
    list_display = ("participant", "number", "sample", "class_index", "correct", "answered_at")
    list_filter = ("participant__study", "participant__cohort", "correct")
    search_fields = ("participant__pseudonym",)
    list_select_related = ("participant__study", "sample__dataset")


@admin.register(InstructionsSeen)
class InstructionsSeenAdmin(ReadOnlyAdmin):
    list_display = ("participant", "digest", "first_seen_at")
    list_filter = ("participant__study",)
    search_fields = ("participant__pseudonym", "digest")
    list_select_related = ("participant__study",)
