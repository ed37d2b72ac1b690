"""Forms of the dispatch pages. They parse and validate input; the services write."""

from django import forms
from django.utils.translation import gettext_lazy as _

from dispatch.models import Job, MovementOrder
from fleet.models import Department, Driver, Vehicle

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format=DATETIME_LOCAL, **kwargs)


def _local_datetime_field(field: forms.Field) -> None:
    field.widget = DateTimeLocalInput()
    field.input_formats = [DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class JobForm(forms.ModelForm):
    """A new job: the place is picked on the map (or found by street) into latitude/longitude."""

    class Meta:
        model = Job
        fields = [
            "kind",
            "title",
            "description",
            "department",
            "requester_name",
            "requester_phone",
            "address",
            "latitude",
            "longitude",
            "window_start",
            "window_end",
            "service_minutes",
            "priority",
            "vehicle_category",
            "load_kg",
            "seats_needed",
            "required_licence",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "latitude": forms.NumberInput(attrs={"step": "any"}),
            "longitude": forms.NumberInput(attrs={"step": "any"}),
        }

    def __init__(self, *args, municipality=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(municipality=municipality)
        for name in ("window_start", "window_end"):
            _local_datetime_field(self.fields[name])
        self.fields["latitude"].help_text = _("Click the map to set the place.")

    def clean(self):
        data = super().clean()
        start, end = data.get("window_start"), data.get("window_end")
        if start and end and end < start:
            self.add_error("window_end", _("The window must close after it opens."))
        return data

    def _post_clean(self):
        # Model validation happens in the service, with the municipality set.
        pass


class MovementOrderForm(forms.ModelForm):
    class Meta:
        model = MovementOrder
        fields = [
            "department",
            "vehicle",
            "driver",
            "purpose",
            "destination",
            "passengers",
            "starts_at",
            "ends_at",
        ]
        widgets = {"purpose": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, municipality=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(municipality=municipality)
        self.fields["vehicle"].queryset = Vehicle.objects.filter(municipality=municipality)
        self.fields["driver"].queryset = Driver.objects.filter(
            municipality=municipality, active=True
        )
        for name in ("starts_at", "ends_at"):
            _local_datetime_field(self.fields[name])

    def clean(self):
        data = super().clean()
        start, end = data.get("starts_at"), data.get("ends_at")
        if start and end and end <= start:
            self.add_error("ends_at", _("The period must end after it starts."))
        return data

    def _post_clean(self):
        pass


class ShiftForm(forms.Form):
    driver = forms.ModelChoiceField(label=_("Driver"), queryset=Driver.objects.none())
    vehicle = forms.ModelChoiceField(
        label=_("Vehicle"),
        queryset=Vehicle.objects.none(),
        required=False,
        help_text=_("Empty: available for any vehicle."),
    )
    starts_at = forms.DateTimeField(label=_("Starts"))
    ends_at = forms.DateTimeField(label=_("Ends"))

    def __init__(self, *args, municipality=None, day=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["driver"].queryset = Driver.objects.filter(
            municipality=municipality, active=True
        )
        self.fields["vehicle"].queryset = Vehicle.objects.filter(municipality=municipality)
        for name in ("starts_at", "ends_at"):
            _local_datetime_field(self.fields[name])
        if day is not None and municipality is not None:
            from dispatch import selectors  # noqa: PLC0415

            usual = selectors.dispatch_settings(municipality)
            self.initial.setdefault("starts_at", f"{day.isoformat()}T{usual.shift_start:%H:%M}")
            self.initial.setdefault("ends_at", f"{day.isoformat()}T{usual.shift_end:%H:%M}")


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=2000)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)


class DriverActionForm(forms.Form):
    ACTIONS = ("en_route", "on_site", "done", "failed", "note", "photo")

    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    reason = forms.CharField(required=False, max_length=2000)
    text = forms.CharField(required=False, max_length=4000)
    photo = forms.FileField(required=False)
