from django.urls import path
from rest_framework.routers import SimpleRouter

from telematics import api

router = SimpleRouter()
router.register("devices", api.DeviceViewSet, basename="device")
router.register("unknown-devices", api.UnknownDeviceViewSet, basename="unknown-device")

urlpatterns = [
    path("positions/", api.PositionListView.as_view(), name="position-list"),
    path("positions/geojson/", api.PositionGeoJsonView.as_view(), name="position-geojson"),
    path("positions/gpx/", api.PositionGpxView.as_view(), name="position-gpx"),
    path("live/", api.LiveStateView.as_view(), name="live-state"),
    *router.urls,
]
