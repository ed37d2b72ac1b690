"""Admin pages for reports (imported by fleet.admin). Report runs are read-only here: they are
asked for and regenerated from the reports page, which goes through the services."""

from django.contrib import admin

from reports.models import FuelContract, ReportRun


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    list_display = ["kind", "period", "scope", "language", "status", "progress", "municipality"]
    list_filter = ["municipality", "kind", "status", "language"]
    search_fields = ["period", "scope"]
    readonly_fields = [f.name for f in ReportRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FuelContract)
class FuelContractAdmin(admin.ModelAdmin):
    list_display = ["reference", "supplier", "fuel_type", "starts_on", "ends_on", "amount"]
    list_filter = ["municipality", "fuel_type"]
    search_fields = ["reference", "supplier"]
