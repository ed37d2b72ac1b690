from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.ReportIndexView.as_view(), name="index"),
    path("<int:pk>/pdf/", views.ReportPdfView.as_view(), name="pdf"),
    path("<int:pk>/csv/", views.ReportExportView.as_view(export="csv"), name="csv"),
    path("<int:pk>/xlsx/", views.ReportExportView.as_view(export="xlsx"), name="xlsx"),
    path("<int:pk>/regenerate/", views.ReportRegenerateView.as_view(), name="regenerate"),
]
