from django.urls import path

from telematics import views

app_name = "telematics"

urlpatterns = [
    path("live/", views.LiveMapView.as_view(), name="live_map"),
    path("devices/", views.DeviceListView.as_view(), name="device_list"),
    path(
        "unknown-devices/adopt/",
        views.UnknownDeviceAdoptView.as_view(),
        name="unknown_device_adopt",
    ),
]

# Motion pages: telematics/history_views.py
from telematics import history_views  # noqa: E402

urlpatterns += [
    path("history/", history_views.VehicleHistoryView.as_view(), name="vehicle_history"),
    path("events/", history_views.EventListView.as_view(), name="event_list"),
]

# Geofences page: telematics/geofence_views.py
from telematics import geofence_views  # noqa: E402

urlpatterns += [
    path("geofences/", geofence_views.GeofencePageView.as_view(), name="geofences"),
    path("geofences/new/", geofence_views.GeofenceCreateView.as_view(), name="geofence_create"),
    path("geofences/import/", geofence_views.GeofenceImportView.as_view(), name="geofence_import"),
    path("geofences/export/", geofence_views.GeofenceExportView.as_view(), name="geofence_export"),
    path("geofences/<int:pk>/", geofence_views.GeofenceDetailView.as_view(), name="geofence"),
    path(
        "geofences/<int:pk>/delete/",
        geofence_views.GeofenceDeleteView.as_view(),
        name="geofence_delete",
    ),
]
