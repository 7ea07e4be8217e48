from django.contrib import admin

from analysis.models import ReportPreface


@admin.register(ReportPreface)
class ReportPrefaceAdmin(admin.ModelAdmin):
    list_display = ("study", "text")
    list_select_related = ("study",)
