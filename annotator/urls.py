from django.urls import include, path

app_name = "annotator"

urlpatterns = [
    path("coordinate/", include("annotator.urls_coordinator")),
    path("", include("annotator.urls_participant")),
]
