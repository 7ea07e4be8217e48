from django.urls import path

from annotator import views_coordinator as views

urlpatterns = [
    path("", views.coordinator_studies, name="coordinator_studies"),
    path("<str:study>/", views.coordinator_study, name="coordinator_study"),
    path("<str:study>/invite/", views.coordinator_invite, name="coordinator_invite"),
    path("<str:study>/invitations/<int:pk>/revoke/", views.coordinator_revoke, name="coordinator_revoke"),
    path("<str:study>/progress/", views.coordinator_progress, name="coordinator_progress"),
    path("<str:study>/answers.csv", views.coordinator_export, name="coordinator_export"),
    path("<str:study>/gallery-visits.csv", views.coordinator_gallery_visits, name="coordinator_gallery_visits"),
]
