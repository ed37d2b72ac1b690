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
