"""The dispatch app's part of ``/api/v1/`` (included by config/urls.py)."""

from django.urls import path

from dispatch import api

urlpatterns = [
    path("routes/", api.RouteView.as_view(), name="route-plan"),
    path("routes/matrix/", api.RouteMatrixView.as_view(), name="route-matrix"),
    path("streets/", api.StreetsView.as_view(), name="streets"),
]

# Jobs, movement orders, plans and the board (dispatch/jobs_api.py).
from rest_framework.routers import SimpleRouter  # noqa: E402

from dispatch import jobs_api  # noqa: E402

jobs_router = SimpleRouter()
jobs_router.register("jobs", jobs_api.JobViewSet)
jobs_router.register("movement-orders", jobs_api.MovementOrderViewSet)
jobs_router.register("plans", jobs_api.PlanViewSet)
jobs_router.register("shifts", jobs_api.ShiftViewSet)
jobs_router.register("recurring-jobs", jobs_api.RecurrenceRuleViewSet)
jobs_router.register("unload-sites", jobs_api.UnloadSiteViewSet)
urlpatterns += jobs_router.urls
urlpatterns += [
    path("dispatch/board/", jobs_api.BoardSnapshotView.as_view(), name="dispatch-board"),
    path("dispatch/settings/", jobs_api.DispatchSettingsView.as_view(), name="dispatch-settings"),
    path(
        "dispatch/queues/<int:vehicle_id>/",
        jobs_api.VehicleQueueView.as_view(),
        name="dispatch-queue",
    ),
]
urlpatterns += [
    path("dispatch/geocode/", jobs_api.GeocodeView.as_view(), name="dispatch-geocode"),
]
