from django.db import transaction
from django_filters import rest_framework as filters
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from fleet.api_base import ScopedModelViewSet, ScopedRelatedField
from fleet.models import Department, Document, Driver, DriverLicence, Municipality, Vehicle
from fleet.services import register as services
from fleet.validators import clean_plate


class MunicipalitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Municipality
        fields = [
            "id",
            "name",
            "name_en",
            "slug",
            "timezone",
            "osm_file",
            "bbox_south",
            "bbox_west",
            "bbox_north",
            "bbox_east",
            "center_lat",
            "center_lon",
            "boundary",
        ]


class MunicipalityViewSet(ScopedModelViewSet):
    queryset = Municipality.objects.all()
    serializer_class = MunicipalitySerializer
    read_capability = "municipality.view"
    write_capability = "municipality.edit"
    scope_field = "self"
    search_fields = ["name", "slug"]

    def perform_create(self, serializer):
        if not self.request.user.is_superuser:
            raise PermissionDenied("Only the installation's superuser adds municipalities.")
        serializer.save()

    def perform_destroy(self, instance):
        if not self.request.user.is_superuser:
            raise PermissionDenied("Only the installation's superuser removes municipalities.")
        instance.delete()


class ServiceSerializer(serializers.ModelSerializer):
    """Writes go through the app's services, never through ``Model.save`` here."""

    create_service = None
    update_service = None
    instance_kwarg = ""

    def create(self, validated_data):
        municipality = self.context["request"].user.municipality
        return type(self).create_service(municipality=municipality, **validated_data)

    def update(self, instance, validated_data):
        return type(self).update_service(**{self.instance_kwarg: instance}, **validated_data)


class DepartmentSerializer(ServiceSerializer):
    create_service = services.department_create
    update_service = services.department_update
    instance_kwarg = "department"

    class Meta:
        model = Department
        fields = ["id", "name", "code", "depot_lat", "depot_lon"]
        validators: list = []


class DepartmentViewSet(ScopedModelViewSet):
    queryset = Department.objects.all()
    serializer_class = DepartmentSerializer
    read_capability = "register.view"
    write_capability = "register.edit"
    search_fields = ["name", "code"]


class VehicleSerializer(ServiceSerializer):
    create_service = services.vehicle_create
    update_service = services.vehicle_update
    instance_kwarg = "vehicle"
    department = ScopedRelatedField(
        queryset=Department.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Vehicle
        exclude = ["municipality"]
        read_only_fields = ["created_at", "updated_at"]
        validators: list = []

    def validate_plate(self, value: str) -> str:
        return clean_plate(value)

    def validate_machinery_plate(self, value: str) -> str:
        return clean_plate(value)


class VehicleFilter(filters.FilterSet):
    class Meta:
        model = Vehicle
        fields = ["status", "category", "fuel_type", "department", "kind", "meter"]


class VehicleViewSet(ScopedModelViewSet):
    queryset = Vehicle.objects.select_related("department")
    serializer_class = VehicleSerializer
    filterset_class = VehicleFilter
    read_capability = "register.view"
    write_capability = "register.edit"
    search_fields = ["plate", "machinery_plate", "make", "model", "vin"]
    ordering_fields = ["plate", "year", "status", "category"]


class LicenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = DriverLicence
        fields = ["category", "expires_on"]


class DriverSerializer(ServiceSerializer):
    update_service = services.driver_update
    instance_kwarg = "driver"
    department = ScopedRelatedField(
        queryset=Department.objects.all(), required=False, allow_null=True
    )
    licences = LicenceSerializer(many=True, required=False)

    class Meta:
        model = Driver
        exclude = ["municipality", "user"]
        read_only_fields = ["created_at", "updated_at"]
        validators: list = []

    def validate_licences(self, value: list[dict]) -> list[dict]:
        categories = [item["category"] for item in value]
        if len(categories) != len(set(categories)):
            raise serializers.ValidationError("A category is listed twice.")
        return value

    def create(self, validated_data):
        municipality = self.context["request"].user.municipality
        return services.driver_create(municipality=municipality, **validated_data)

    def update(self, instance, validated_data):
        return services.driver_update(driver=instance, **validated_data)


class DriverViewSet(ScopedModelViewSet):
    queryset = Driver.objects.select_related("department").prefetch_related("licences")
    serializer_class = DriverSerializer
    filterset_fields = ["department", "active"]
    read_capability = "register.view"
    write_capability = "register.edit"
    search_fields = ["last_name", "first_name", "employee_number", "licence_number"]
    ordering_fields = ["last_name", "employee_number"]


class DocumentSerializer(ServiceSerializer):
    create_service = services.document_create
    update_service = services.document_update
    instance_kwarg = "document"
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all(), required=False, allow_null=True)
    driver = ScopedRelatedField(queryset=Driver.objects.all(), required=False, allow_null=True)

    class Meta:
        model = Document
        exclude = ["municipality"]
        read_only_fields = ["created_at"]
        validators: list = []


class DocumentViewSet(ScopedModelViewSet):
    queryset = Document.objects.select_related("vehicle", "driver")
    serializer_class = DocumentSerializer
    filterset_fields = {
        "kind": ["exact"],
        "vehicle": ["exact"],
        "driver": ["exact"],
        "expires_on": ["lte", "gte"],
    }
    read_capability = "register.view"
    write_capability = "register.edit"
    search_fields = ["number"]

    @transaction.atomic
    def perform_destroy(self, instance):
        instance.delete()
