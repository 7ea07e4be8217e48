from django.urls import path

from annotator import views_panels

urlpatterns = [
    path("<str:token>/", views_panels.panel, name="panel"),
]
