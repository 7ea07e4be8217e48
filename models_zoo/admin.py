from django.contrib import admin

from models_zoo.models import EpochMetric, ModelRun, Prediction


class EpochMetricInline(admin.TabularInline):
    model = EpochMetric
    extra = 0
    fields = ("epoch", "train_loss", "val_macro_f1", "val_macro_auc", "learning_rate", "samples_per_second")
    readonly_fields = fields
    can_delete = False


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "architecture", "dataset", "status", "best_epoch", "best_val_macro_f1", "created_at")
    list_filter = ("kind", "status", "architecture", "single_class")
    search_fields = ("name",)
    list_select_related = ("dataset",)
    raw_id_fields = ("parent",)
    inlines = [EpochMetricInline]


@admin.register(EpochMetric)
class EpochMetricAdmin(admin.ModelAdmin):
    list_display = ("run", "epoch", "train_loss", "val_macro_f1", "val_macro_auc", "learning_rate", "samples_per_second")
    list_filter = ("run",)
    list_select_related = ("run",)


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ("run", "sample", "classes", "predicted_at")
    list_filter = ("run",)
    list_select_related = ("run", "sample__dataset")
    raw_id_fields = ("sample",)
