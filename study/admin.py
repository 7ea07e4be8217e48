from django.contrib import admin

from study.models import Dataset, ReferenceLabel, Sample, Study, StudyRole, StudySample


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "label_set_key", "split_seed", "created_at")
    search_fields = ("name",)


class ReferenceLabelInline(admin.TabularInline):
    model = ReferenceLabel
    extra = 0


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ("source_id", "dataset", "split", "width", "height", "bit_depth")
    list_filter = ("dataset", "split", "bit_depth")
    search_fields = ("source_id",)
    inlines = [ReferenceLabelInline]


@admin.register(ReferenceLabel)
class ReferenceLabelAdmin(admin.ModelAdmin):
    list_display = ("sample", "class_index")
    list_select_related = ("sample__dataset",)


class StudySampleInline(admin.TabularInline):
    model = StudySample
    extra = 0
    raw_id_fields = ("sample",)


class StudyRoleInline(admin.TabularInline):
    """Who coordinates the study and who analyses it (besides those who hold the role for every
    study through the coordinator and analyst groups)."""

    model = StudyRole
    extra = 1
    autocomplete_fields = ("user",)


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("name", "dataset", "seed", "balanced", "created_at")
    search_fields = ("name",)
    inlines = [StudyRoleInline, StudySampleInline]


@admin.register(StudyRole)
class StudyRoleAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "study", "granted_at")
    list_filter = ("role", "study")
    search_fields = ("user__username", "study__name")
    autocomplete_fields = ("user", "study")


@admin.register(StudySample)
class StudySampleAdmin(admin.ModelAdmin):
    list_display = ("study", "position", "sample")
    list_filter = ("study",)
    raw_id_fields = ("sample",)
