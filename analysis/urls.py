from django.urls import path

from analysis import views

app_name = "analysis"

urlpatterns = [
    path("", views.studies, name="studies"),
    path("<str:study>/", views.study_report, name="study_report"),
    path("<str:study>/files/<int:seed>/<path:filename>", views.report_file, name="report_file"),
]
