"""Explicit admin registration (no autodiscovery: ``leaflet.admin`` would import GeoDjango).

Other apps register their models in their own ``admin.py``; this module imports them so that one
import in ``config/urls.py`` registers everything.
"""

import importlib

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from fleet import forms
from fleet.models import Department, Document, Driver, DriverLicence, Municipality, User, Vehicle


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone"]
    prepopulated_fields = {"slug": ["name_en"]}


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "municipality"]
    list_filter = ["municipality"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "first_name", "last_name", "municipality", "role", "is_active"]
    list_filter = ["municipality", "role", "is_active"]
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Kinisi", {"fields": ["municipality", "role", "department"]}),
    )


class AdminVehicleForm(forms.VehicleForm):
    class Meta(forms.VehicleForm.Meta):
        exclude: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, municipality=None, **kwargs)
        # The admin spans municipalities: undo the per-municipality narrowing.
        self.fields["department"].queryset = Department.objects.all()


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    form = AdminVehicleForm
    list_display = ["plate", "machinery_plate", "category", "department", "status", "municipality"]
    list_filter = ["municipality", "status", "category", "fuel_type"]
    search_fields = ["plate", "machinery_plate", "vin", "make", "model"]


class LicenceInline(admin.TabularInline):
    model = DriverLicence
    extra = 0
    exclude = ["municipality"]


@admin.register(Driver)
class DriverAdmin(admin.ModelAdmin):
    list_display = ["last_name", "first_name", "employee_number", "department", "municipality"]
    list_filter = ["municipality", "department", "active"]
    search_fields = ["last_name", "first_name", "employee_number"]
    inlines = [LicenceInline]

    def save_formset(self, request, form, formset, change):
        for licence in formset.save(commit=False):
            licence.municipality_id = form.instance.municipality_id
            licence.save()
        for licence in formset.deleted_objects:
            licence.delete()


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["kind", "number", "vehicle", "driver", "expires_on", "municipality"]
    list_filter = ["municipality", "kind"]
    search_fields = ["number"]


for _app in ("telematics", "dispatch", "reports", "notifications"):
    try:
        importlib.import_module(f"{_app}.admin")
    except ModuleNotFoundError as exc:
        if exc.name != f"{_app}.admin":
            raise


# --- Fuel and maintenance (status changes go through the pages, where the services apply them)
from fleet.models import (  # noqa: E402
    Expense,
    FuelAnomaly,
    FuelCard,
    FuelCardProvider,
    FuelEntry,
    FuelImportRun,
    FuelStation,
    Reminder,
    RoadworthinessTest,
    ServicePlan,
    ServiceRecord,
    WorkOrder,
    WorkOrderPart,
)


@admin.register(FuelStation)
class FuelStationAdmin(admin.ModelAdmin):
    list_display = ["name", "brand", "is_municipal_tank", "active", "municipality"]
    list_filter = ["municipality", "is_municipal_tank", "active"]
    search_fields = ["name", "brand", "address"]


@admin.register(FuelCardProvider)
class FuelCardProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "date_order", "decimal_separator", "municipality"]
    list_filter = ["municipality"]


@admin.register(FuelCard)
class FuelCardAdmin(admin.ModelAdmin):
    list_display = ["number", "provider", "vehicle", "active", "municipality"]
    list_filter = ["municipality", "provider", "active"]
    search_fields = ["number"]
    raw_id_fields = ["vehicle"]


@admin.register(FuelEntry)
class FuelEntryAdmin(admin.ModelAdmin):
    list_display = ["filled_at", "vehicle", "litres", "amount", "source", "station_name"]
    list_filter = ["municipality", "source", "full_tank"]
    search_fields = ["vehicle__plate", "station_name", "transaction_id", "card_number"]
    raw_id_fields = ["vehicle", "driver", "station", "card", "import_run"]
    date_hierarchy = "filled_at"


@admin.register(FuelImportRun)
class FuelImportRunAdmin(admin.ModelAdmin):
    list_display = [
        "original_name",
        "provider",
        "status",
        "rows_imported",
        "rows_failed",
        "created_at",
    ]
    list_filter = ["municipality", "status"]
    readonly_fields = [
        "status",
        "errors",
        "rows_total",
        "rows_imported",
        "rows_duplicate",
        "rows_failed",
    ]


@admin.register(FuelAnomaly)
class FuelAnomalyAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "vehicle", "kind", "status", "municipality"]
    list_filter = ["municipality", "kind", "status"]
    raw_id_fields = ["vehicle", "fuel_entry"]


@admin.register(ServicePlan)
class ServicePlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "vehicle",
        "category",
        "every_km",
        "every_hours",
        "every_days",
        "active",
    ]
    list_filter = ["municipality", "category", "active"]
    raw_id_fields = ["vehicle"]


@admin.register(ServiceRecord)
class ServiceRecordAdmin(admin.ModelAdmin):
    list_display = ["performed_on", "vehicle", "plan", "odometer_km", "engine_hours"]
    list_filter = ["municipality"]
    raw_id_fields = ["vehicle", "plan", "work_order"]


class WorkOrderPartInline(admin.TabularInline):
    model = WorkOrderPart
    extra = 0
    exclude = ["municipality"]


@admin.register(WorkOrder)
class WorkOrderAdmin(admin.ModelAdmin):
    list_display = ["pk", "title", "vehicle", "status", "takes_off_road", "reported_at"]
    list_filter = ["municipality", "status", "takes_off_road"]
    search_fields = ["title", "vehicle__plate", "vendor"]
    raw_id_fields = ["vehicle", "reported_by_driver", "service_plan"]
    # The vehicle's status follows these; they change only through the work-order pages.
    readonly_fields = [
        "status",
        "takes_off_road",
        "off_road_from",
        "off_road_until",
        "off_road_days",
    ]
    inlines = [WorkOrderPartInline]

    def save_formset(self, request, form, formset, change):
        for part in formset.save(commit=False):
            part.municipality_id = form.instance.municipality_id
            part.save()
        for part in formset.deleted_objects:
            part.delete()


@admin.register(RoadworthinessTest)
class RoadworthinessTestAdmin(admin.ModelAdmin):
    list_display = ["tested_on", "vehicle", "result", "centre", "municipality"]
    list_filter = ["municipality", "result"]
    raw_id_fields = ["vehicle"]


@admin.register(Expense)
class ExpenseAdmin(admin.ModelAdmin):
    list_display = ["incurred_on", "vehicle", "kind", "amount", "municipality"]
    list_filter = ["municipality", "kind"]
    raw_id_fields = ["vehicle", "document"]


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["due_on", "rule", "detail", "vehicle", "driver", "emailed_at", "dismissed_at"]
    list_filter = ["municipality", "rule"]
