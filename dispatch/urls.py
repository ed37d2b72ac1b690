"""Dispatch pages (included by config/urls.py under /dispatch/)."""

from django.urls import path

from dispatch import views

app_name = "dispatch"

urlpatterns = [
    path("route-planner/", views.RoutePlannerView.as_view(), name="route_planner"),
]

# The board, jobs, the driver's page, movement orders and plans.
from dispatch import board_views, jobs_views  # noqa: E402

urlpatterns += [
    path("", board_views.BoardView.as_view(), name="board"),
    path("me/", jobs_views.DriverJobsView.as_view(), name="driver_jobs"),
    path("jobs/", jobs_views.JobListView.as_view(), name="job_list"),
    path("jobs/new/", jobs_views.JobCreateView.as_view(), name="job_create"),
    path("jobs/<int:pk>/", jobs_views.JobDetailView.as_view(), name="job_detail"),
    path("jobs/<int:pk>/action/", jobs_views.JobActionView.as_view(), name="job_action"),
    path("orders/", jobs_views.MovementOrderListView.as_view(), name="movement_order_list"),
    path("orders/new/", jobs_views.MovementOrderCreateView.as_view(), name="movement_order_create"),
    path(
        "orders/<int:pk>/",
        jobs_views.MovementOrderDetailView.as_view(),
        name="movement_order_detail",
    ),
    path(
        "orders/<int:pk>/pdf/",
        jobs_views.MovementOrderPdfView.as_view(),
        name="movement_order_pdf",
    ),
    path("shifts/", jobs_views.ShiftListView.as_view(), name="shift_list"),
    path("shifts/<int:pk>/delete/", jobs_views.ShiftDeleteView.as_view(), name="shift_delete"),
    path("plans/", jobs_views.PlanListView.as_view(), name="plan_list"),
    path("plans/<int:pk>/", jobs_views.PlanDetailView.as_view(), name="plan_detail"),
]
