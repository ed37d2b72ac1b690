"""The dispatch app's part of ``/api/v1/`` (included by config/urls.py)."""

from django.urls import path

from dispatch import api

urlpatterns = [
    path("routes/", api.RouteView.as_view(), name="route-plan"),
    path("routes/matrix/", api.RouteMatrixView.as_view(), name="route-matrix"),
    path("streets/", api.StreetsView.as_view(), name="streets"),
]
