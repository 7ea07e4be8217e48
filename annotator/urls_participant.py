from django.urls import path

from annotator import views_participant as views
from annotator import views_training

urlpatterns = [
    path("s/<str:study>/", views.participant_study, name="participant_study"),
    path("s/<str:study>/background/", views.participant_background, name="participant_background"),
    path("s/<str:study>/instructions/", views.participant_instructions, name="participant_instructions"),
    path("s/<str:study>/training/", views_training.participant_training, name="participant_training"),
    path(
        "s/<str:study>/training/practice/<int:number>/",
        views_training.participant_practice,
        name="participant_practice",
    ),
    path("s/<str:study>/training/score/", views_training.participant_training_score, name="participant_training_score"),
    path("s/<str:study>/case/<int:number>/", views.participant_case, name="participant_case"),
    path("s/<str:study>/case/<int:number>/answer/", views.participant_answer, name="participant_answer"),
    path("s/<str:study>/submit/", views.participant_submit, name="participant_submit"),
    path("s/<str:study>/done/", views.participant_done, name="participant_done"),
    path("invitation/<str:token>/", views.accept_invitation, name="accept_invitation"),
]
