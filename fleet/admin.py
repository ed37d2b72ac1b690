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


for _app in ("telematics", "dispatch", "reports"):
    try:
        importlib.import_module(f"{_app}.admin")
    except ModuleNotFoundError as exc:
        if exc.name != f"{_app}.admin":
            raise
