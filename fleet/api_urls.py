from rest_framework.routers import SimpleRouter

from fleet.api import register as api

router = SimpleRouter()
router.register("municipalities", api.MunicipalityViewSet)
router.register("departments", api.DepartmentViewSet)
router.register("vehicles", api.VehicleViewSet)
router.register("drivers", api.DriverViewSet)
router.register("documents", api.DocumentViewSet)

urlpatterns = router.urls

# --- Fuel and maintenance
from django.urls import path  # noqa: E402

from fleet.api import fuel as fuel_api  # noqa: E402
from fleet.api import maintenance as maintenance_api  # noqa: E402

router.register("fuel-entries", fuel_api.FuelEntryViewSet)
router.register("fuel-stations", fuel_api.FuelStationViewSet)
router.register("fuel-cards", fuel_api.FuelCardViewSet)
router.register("fuel-providers", fuel_api.FuelCardProviderViewSet)
router.register("fuel-imports", fuel_api.FuelImportViewSet)
router.register("fuel-anomalies", fuel_api.FuelAnomalyViewSet)
router.register("service-plans", maintenance_api.ServicePlanViewSet)
router.register("service-records", maintenance_api.ServiceRecordViewSet)
router.register("work-orders", maintenance_api.WorkOrderViewSet)
router.register("work-order-parts", maintenance_api.WorkOrderPartViewSet)
router.register("kteo-tests", maintenance_api.RoadworthinessTestViewSet)
router.register("expenses", maintenance_api.ExpenseViewSet)
router.register("reminders", maintenance_api.ReminderViewSet)

urlpatterns = router.urls + [
    path("fuel-consumption/", fuel_api.ConsumptionView.as_view(), name="fuel-consumption"),
    path("compliance/", maintenance_api.ComplianceView.as_view(), name="compliance"),
    path("eligibility/", maintenance_api.EligibilityView.as_view(), name="eligibility"),
    path("vehicle-costs/", maintenance_api.VehicleCostsView.as_view(), name="vehicle-costs"),
]
