"""Dispatch pages (included by config/urls.py under /dispatch/)."""

from django.urls import path

from dispatch import views

app_name = "dispatch"

urlpatterns = [
    path("route-planner/", views.RoutePlannerView.as_view(), name="route_planner"),
]
