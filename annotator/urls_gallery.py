from django.urls import path

from annotator import views_gallery

urlpatterns = [
    path("s/<str:study>/gallery/", views_gallery.gallery, name="gallery"),
    path("s/<str:study>/gallery/<int:class_index>/<int:number>/", views_gallery.gallery_sample, name="gallery_sample"),
]
