"""Working calendars the motion processing cannot read are refused when saved."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation

from telematics.motion_models import WorkingCalendar
from tests.factories import UserFactory

WEEKDAYS = [[["07:00", "15:00"]]] * 5 + [[], []]


def test_a_week_of_seven_shift_lists_is_accepted(municipality_a):
    WorkingCalendar(
        municipality=municipality_a, week=WEEKDAYS, extra_holidays=["2025-11-11"]
    ).full_clean()


@pytest.mark.parametrize(
    "week",
    [
        [["07:00", "15:00"]] * 7,  # one shift a day, not a list of shifts
        [[["07:00", "15:00"]]] * 5,  # five days
        [[["15:00", "07:00"]]] * 7,  # ends before it starts
        [[["7h", "15h"]]] * 7,
        [[{"07:00": 1, "15:00": 2}]] * 7,
        {"monday": [["07:00", "15:00"]]},
    ],
)
def test_a_week_in_another_shape_is_refused_with_the_expected_shape(municipality_a, week):
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        WorkingCalendar(municipality=municipality_a, week=week).full_clean()
    (message,) = caught.value.message_dict["week"]
    assert "seven days" in message and '["HH:MM", "HH:MM"]' in message


def test_extra_holidays_that_are_not_dates_are_refused(municipality_a):
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        WorkingCalendar(
            municipality=municipality_a, week=WEEKDAYS, extra_holidays=["11/11/2025"]
        ).full_clean()
    assert "YYYY-MM-DD" in caught.value.message_dict["extra_holidays"][0]


def test_the_admin_does_not_save_a_malformed_week_and_says_so_in_greek(municipality_a, client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True, municipality=None))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "el"
    response = client.post(
        "/admin/telematics/workingcalendar/add/",
        {
            "municipality": municipality_a.pk,
            "week": json.dumps([["07:00", "15:00"]] * 7),
            "extra_holidays": "[]",
            "extra_working_days": "[]",
        },
    )
    assert response.status_code == 200  # the form again, with its errors
    errors = response.context["adminform"].form.errors["week"]
    assert "επτά ημερών" in errors[0] and '[[["07:00", "15:00"]]' in errors[0]
    assert not WorkingCalendar.objects.exists()
