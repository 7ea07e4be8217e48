from django.urls import path

from annotator import views_participant as views

urlpatterns = [
    path("s/<str:study>/", views.participant_study, name="participant_study"),
    path("s/<str:study>/instructions/", views.participant_instructions, name="participant_instructions"),
    path("s/<str:study>/case/<int:number>/", views.participant_case, name="participant_case"),
    path("s/<str:study>/case/<int:number>/answer/", views.participant_answer, name="participant_answer"),
    path("s/<str:study>/submit/", views.participant_submit, name="participant_submit"),
    path("s/<str:study>/done/", views.participant_done, name="participant_done"),
    path("invitation/<str:token>/", views.accept_invitation, name="accept_invitation"),
]
