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
