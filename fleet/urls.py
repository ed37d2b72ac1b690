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

# --- Fuel and maintenance
from fleet.views import fuel as fuel_views  # noqa: E402
from fleet.views import maintenance as maintenance_views  # noqa: E402

urlpatterns += [
    path("fuel/", fuel_views.FuelEntryListView.as_view(), name="fuel_entry_list"),
    path("fuel/new/", fuel_views.FuelEntryCreateView.as_view(), name="fuel_entry_create"),
    path("fuel/refuel/", fuel_views.DriverRefuelView.as_view(), name="driver_refuel"),
    path("fuel/<int:pk>/", fuel_views.FuelEntryDetailView.as_view(), name="fuel_entry_detail"),
    path("fuel/<int:pk>/edit/", fuel_views.FuelEntryUpdateView.as_view(), name="fuel_entry_update"),
    path("fuel/imports/", fuel_views.FuelImportListView.as_view(), name="fuel_import_list"),
    path("fuel/imports/new/", fuel_views.FuelImportCreateView.as_view(), name="fuel_import_create"),
    path(
        "fuel/imports/<int:pk>/",
        fuel_views.FuelImportDetailView.as_view(),
        name="fuel_import_detail",
    ),
    path(
        "fuel/imports/<int:pk>/mapping/",
        fuel_views.FuelImportMappingView.as_view(),
        name="fuel_import_mapping",
    ),
    path(
        "fuel/imports/<int:pk>/import/",
        fuel_views.FuelImportExecuteView.as_view(),
        name="fuel_import_execute",
    ),
    path("fuel/anomalies/", fuel_views.FuelAnomalyListView.as_view(), name="fuel_anomaly_list"),
    path(
        "fuel/anomalies/<int:pk>/",
        fuel_views.FuelAnomalyDetailView.as_view(),
        name="fuel_anomaly_detail",
    ),
    path("fuel/consumption/", fuel_views.ConsumptionView.as_view(), name="fuel_consumption"),
    path("fuel/stations/", fuel_views.FuelStationListView.as_view(), name="fuel_station_list"),
    path(
        "fuel/stations/new/",
        fuel_views.FuelStationCreateView.as_view(),
        name="fuel_station_create",
    ),
    path(
        "fuel/stations/<int:pk>/edit/",
        fuel_views.FuelStationUpdateView.as_view(),
        name="fuel_station_update",
    ),
    path("fuel/cards/", fuel_views.FuelCardListView.as_view(), name="fuel_card_list"),
    path("fuel/cards/new/", fuel_views.FuelCardCreateView.as_view(), name="fuel_card_create"),
    path(
        "fuel/cards/<int:pk>/edit/",
        fuel_views.FuelCardUpdateView.as_view(),
        name="fuel_card_update",
    ),
    path("fuel/providers/", fuel_views.FuelProviderListView.as_view(), name="fuel_provider_list"),
    path(
        "fuel/providers/new/",
        fuel_views.FuelProviderCreateView.as_view(),
        name="fuel_provider_create",
    ),
    path(
        "fuel/providers/<int:pk>/edit/",
        fuel_views.FuelProviderUpdateView.as_view(),
        name="fuel_provider_update",
    ),
    path("maintenance/", maintenance_views.WorkOrderListView.as_view(), name="work_order_list"),
    path(
        "maintenance/work-orders/new/",
        maintenance_views.WorkOrderCreateView.as_view(),
        name="work_order_create",
    ),
    path(
        "maintenance/work-orders/<int:pk>/",
        maintenance_views.WorkOrderDetailView.as_view(),
        name="work_order_detail",
    ),
    path(
        "maintenance/work-orders/<int:pk>/edit/",
        maintenance_views.WorkOrderUpdateView.as_view(),
        name="work_order_update",
    ),
    path(
        "maintenance/work-orders/<int:pk>/status/",
        maintenance_views.WorkOrderStatusView.as_view(),
        name="work_order_status",
    ),
    path(
        "maintenance/work-orders/<int:pk>/parts/",
        maintenance_views.WorkOrderPartAddView.as_view(),
        name="work_order_parts",
    ),
    path(
        "maintenance/parts/<int:pk>/delete/",
        maintenance_views.WorkOrderPartDeleteView.as_view(),
        name="work_order_part_delete",
    ),
    path("maintenance/defect/", maintenance_views.DriverDefectView.as_view(), name="driver_defect"),
    path(
        "maintenance/plans/",
        maintenance_views.ServicePlanListView.as_view(),
        name="service_plan_list",
    ),
    path(
        "maintenance/plans/new/",
        maintenance_views.ServicePlanCreateView.as_view(),
        name="service_plan_create",
    ),
    path(
        "maintenance/plans/<int:pk>/edit/",
        maintenance_views.ServicePlanUpdateView.as_view(),
        name="service_plan_update",
    ),
    path(
        "maintenance/kteo/",
        maintenance_views.RoadworthinessTestListView.as_view(),
        name="kteo_test_list",
    ),
    path(
        "maintenance/kteo/new/",
        maintenance_views.RoadworthinessTestCreateView.as_view(),
        name="kteo_test_create",
    ),
    path(
        "maintenance/kteo/<int:pk>/edit/",
        maintenance_views.RoadworthinessTestUpdateView.as_view(),
        name="kteo_test_update",
    ),
    path("maintenance/expenses/", maintenance_views.ExpenseListView.as_view(), name="expense_list"),
    path(
        "maintenance/expenses/new/",
        maintenance_views.ExpenseCreateView.as_view(),
        name="expense_create",
    ),
    path(
        "maintenance/expenses/<int:pk>/edit/",
        maintenance_views.ExpenseUpdateView.as_view(),
        name="expense_update",
    ),
    path(
        "maintenance/calendar/",
        maintenance_views.ComplianceCalendarView.as_view(),
        name="compliance_calendar",
    ),
    path(
        "maintenance/reminders/<int:pk>/dismiss/",
        maintenance_views.ReminderDismissView.as_view(),
        name="reminder_dismiss",
    ),
    path("maintenance/costs/", maintenance_views.VehicleCostsView.as_view(), name="vehicle_costs"),
]
