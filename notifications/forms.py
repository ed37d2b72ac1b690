from __future__ import annotations

from django import forms
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext_lazy as _

from fleet.choices import Role
from fleet.models import Department
from notifications.matching import MAX_SUPPRESS_MINUTES
from notifications.models import NotificationRule


def event_type_choices() -> list[tuple[str, str]]:
    from telematics.selectors import EVENT_LABELS

    return [(str(value), label) for value, label in EVENT_LABELS.items()]


class NotificationRuleForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        label=_("Event types"), choices=event_type_choices, widget=forms.CheckboxSelectMultiple
    )
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=Role.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = NotificationRule
        fields = [
            "name",
            "event_types",
            "departments",
            "roles",
            "in_app",
            "email",
            "suppress_minutes",
            "enabled",
        ]
        widgets = {"departments": forms.CheckboxSelectMultiple}

    def __init__(self, *args, municipality, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.municipality = municipality
        self.fields["departments"].queryset = Department.objects.filter(
            municipality=municipality
        ).order_by("name")
        suppress = self.fields["suppress_minutes"]
        suppress.validators.append(MaxValueValidator(MAX_SUPPRESS_MINUTES))
        suppress.widget.attrs["max"] = MAX_SUPPRESS_MINUTES

    def clean(self):
        data = super().clean()
        if not data.get("in_app") and not data.get("email"):
            raise forms.ValidationError(_("Choose at least one channel: in the app or by e-mail."))
        return data
