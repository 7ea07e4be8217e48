from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(template_name="config/signed_out.html"), name="logout"),
    path("", include("annotator.urls")),
    path("analysis/", include("analysis.urls")),
    path("admin/", admin.site.urls),
]
