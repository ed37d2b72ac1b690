from django import forms
from django.utils.translation import gettext_lazy as _

from fleet.choices import LicenceCategory
from fleet.models import Department, Document, Driver, Vehicle
from fleet.validators import clean_plate


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class ScopedForm(forms.ModelForm):
    """Limits every related-object choice to the user's municipality."""

    def __init__(self, *args, municipality=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.municipality = municipality
        for field in self.fields.values():
            queryset = getattr(field, "queryset", None)
            if queryset is not None and hasattr(queryset.model, "municipality"):
                field.queryset = queryset.filter(municipality=municipality)
        for field in self.fields.values():
            if isinstance(field, forms.DateField):
                field.widget = DateInput()

    def _post_clean(self):
        # The instance must know its municipality before model validation runs.
        if self.municipality is not None and not self.instance.municipality_id:
            self.instance.municipality = self.municipality
        super()._post_clean()


class VehicleForm(ScopedForm):
    class Meta:
        model = Vehicle
        exclude = ["municipality"]

    def clean_plate(self):
        return clean_plate(self.cleaned_data.get("plate", ""))

    def clean_machinery_plate(self):
        return clean_plate(self.cleaned_data.get("machinery_plate", ""))


class DriverForm(ScopedForm):
    licence_categories = forms.CharField(
        label=_("Licence categories"),
        required=False,
        help_text=_("One per line: category and expiry, e.g. “C 2031-05-20”."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    class Meta:
        model = Driver
        exclude = ["municipality", "user"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["licence_categories"] = "\n".join(
                f"{lic.category} {lic.expires_on:%Y-%m-%d}" for lic in self.instance.licences.all()
            )

    def clean_licence_categories(self) -> list[dict]:
        text = self.cleaned_data.get("licence_categories", "")
        result, seen = [], set()
        valid = set(LicenceCategory.values)
        for number, line in enumerate(text.splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            field = forms.DateField(input_formats=["%Y-%m-%d", "%d/%m/%Y"])
            if len(parts) != 2 or parts[0].upper() not in valid:
                raise forms.ValidationError(
                    _("Line %(n)s: expected a category (%(cats)s) and a date."),
                    params={"n": number, "cats": ", ".join(LicenceCategory.values)},
                )
            try:
                expires = field.clean(parts[1])
            except forms.ValidationError:
                raise forms.ValidationError(
                    _("Line %(n)s: “%(date)s” is not a date."),
                    params={"n": number, "date": parts[1]},
                )
            category = parts[0].upper()
            if category in seen:
                raise forms.ValidationError(
                    _("Line %(n)s: category %(cat)s appears twice."),
                    params={"n": number, "cat": category},
                )
            seen.add(category)
            result.append({"category": category, "expires_on": expires})
        return result


class DocumentForm(ScopedForm):
    class Meta:
        model = Document
        exclude = ["municipality"]


class DepartmentForm(ScopedForm):
    class Meta:
        model = Department
        exclude = ["municipality"]
