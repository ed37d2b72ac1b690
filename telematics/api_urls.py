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

# Motion layer (trips, stops, events, daily summaries, geofences): telematics/motion_api.py
from telematics import motion_api  # noqa: E402

motion_router = SimpleRouter()
motion_router.register("trips", motion_api.TripViewSet, basename="trip")
motion_router.register("stops", motion_api.StopViewSet, basename="stop")
motion_router.register("events", motion_api.MotionEventViewSet, basename="motion-event")
motion_router.register("daily-summaries", motion_api.DailySummaryViewSet, basename="daily-summary")
motion_router.register("geofences", motion_api.GeofenceViewSet, basename="geofence")
urlpatterns += motion_router.urls
