from django.urls import include, path

app_name = "annotator"

urlpatterns = [
    path("coordinate/", include("annotator.urls_coordinator")),
    path("panels/", include("annotator.urls_panels")),
    path("", include("annotator.urls_gallery")),
    path("", include("annotator.urls_participant")),
]
