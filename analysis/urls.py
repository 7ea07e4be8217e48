app_name = "analysis"

urlpatterns = []
