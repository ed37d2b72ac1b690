from django.urls import path

from fleet.views import register as views

app_name = "fleet"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("me/", views.DriverHomeView.as_view(), name="driver_home"),
    path("vehicles/", views.VehicleListView.as_view(), name="vehicle_list"),
    path("vehicles/new/", views.VehicleCreateView.as_view(), name="vehicle_create"),
    path("vehicles/<int:pk>/", views.VehicleDetailView.as_view(), name="vehicle_detail"),
    path("vehicles/<int:pk>/edit/", views.VehicleUpdateView.as_view(), name="vehicle_update"),
    path("drivers/", views.DriverListView.as_view(), name="driver_list"),
    path("drivers/new/", views.DriverCreateView.as_view(), name="driver_create"),
    path("drivers/<int:pk>/", views.DriverDetailView.as_view(), name="driver_detail"),
    path("drivers/<int:pk>/edit/", views.DriverUpdateView.as_view(), name="driver_update"),
    path("documents/", views.DocumentListView.as_view(), name="document_list"),
    path("documents/new/", views.DocumentCreateView.as_view(), name="document_create"),
    path("documents/<int:pk>/", views.DocumentDetailView.as_view(), name="document_detail"),
    path("documents/<int:pk>/file/", views.DocumentFileView.as_view(), name="document_file"),
    path("documents/<int:pk>/edit/", views.DocumentUpdateView.as_view(), name="document_update"),
]
