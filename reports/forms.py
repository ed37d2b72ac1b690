"""The form on the reports page: which report, for which period and scope."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from fleet.models import Department, Vehicle
from reports.generators.fmt import Period
from reports.models import ReportKind


class ReportRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Report"), choices=ReportKind.choices)
    month = forms.CharField(
        label=_("Month"),
        required=False,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
    )
    day = forms.DateField(
        label=_("Day (movement sheet of one day)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    department = forms.ModelChoiceField(
        label=_("Department"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("whole municipality"),
    )
    vehicle = forms.ModelChoiceField(
        label=_("Vehicle (movement sheet)"),
        queryset=Vehicle.objects.none(),
        required=False,
        empty_label="—",
    )
    language = forms.ChoiceField(
        label=_("Language"), choices=[("el", _("Greek")), ("en", _("English"))]
    )
    regenerate = forms.BooleanField(
        label=_("Generate again if it exists"), required=False, initial=False
    )

    def __init__(self, *args, municipality=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if municipality is not None:
            self.fields["department"].queryset = Department.objects.filter(
                municipality=municipality
            )
            self.fields["vehicle"].queryset = Vehicle.objects.filter(
                municipality=municipality
            ).order_by("plate", "machinery_plate")

    def clean(self):
        data = super().clean()
        kind, month, day = data.get("kind"), data.get("month"), data.get("day")
        if kind == ReportKind.MOVEMENT and day:
            data["period"] = Period(day, day)
        elif month:
            try:
                data["period"] = Period.parse(month)
            except ValueError:
                self.add_error("month", _("Give the month as YYYY-MM."))
        else:
            self.add_error("month", _("Choose a month."))
        if kind == ReportKind.MOVEMENT and not data.get("vehicle"):
            self.add_error("vehicle", _("A movement sheet is for one vehicle: choose it."))
        if kind != ReportKind.MOVEMENT:
            data["vehicle"] = None
        else:
            data["department"] = None
        return data
