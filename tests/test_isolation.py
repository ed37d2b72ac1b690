"""Walks the whole URL configuration, so every endpoint added later is covered automatically.

For each URL that names an object, an object of that model is created in municipality B, and
users of municipality A must get 404 for it: not 403, not the data. A view whose URL names an
object declares which model that is (``model``, ``queryset``, or ``url_kwarg_models`` for other
keyword names); a URL the walk cannot resolve fails the test, so nothing slips through unchecked.
"""

import re

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from fleet.choices import Role
from fleet.models import Driver, Vehicle
from fleet.permissions import has_capability
from tests.factories import FACTORY_FOR_MODEL

SKIP_PREFIXES = ("admin/", "i18n/", "jsi18n/", "static/", "media/", "__debug__/")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _all_routes():
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith(SKIP_PREFIXES):
            continue
        routes.append((route, pattern))
    return routes


def _view_class(callback):
    return getattr(callback, "view_class", None) or getattr(callback, "cls", None)


def _kwarg_names(route: str) -> list[str]:
    names = re.findall(r"\(\?P<(\w+)>", route)
    names += re.findall(r"<(?:\w+:)?(\w+)>", re.sub(r"\(\?P<\w+>[^)]*\)", "", route))
    return names


def _model_for(view_class, kwarg: str):
    declared = getattr(view_class, "url_kwarg_models", {}) or {}
    if kwarg in declared:
        model = declared[kwarg]
        return apps.get_model(model) if isinstance(model, str) else model
    if kwarg in ("pk", "id"):
        if getattr(view_class, "model", None) is not None:
            return view_class.model
        queryset = getattr(view_class, "queryset", None)
        if queryset is not None:
            return queryset.model
    return None


def _fill(route: str, values: dict) -> str:
    def repl(match):
        return str(values[match.group(1)])

    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", repl, route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", repl, path)
    return "/" + path.replace("^", "").replace("$", "").replace("\\", "")


def test_every_object_url_hides_other_municipalities_objects(
    municipality_a, municipality_b, users_a, api_client_for, web_client_for, client
):
    checked, unresolved = [], []
    for route, pattern in _all_routes():
        kwargs = _kwarg_names(route)
        if not kwargs:
            continue
        view_class = _view_class(pattern.callback)
        values, own_values = {}, {}
        for kwarg in kwargs:
            model = _model_for(view_class, kwarg) if view_class else None
            if model is None or model not in FACTORY_FOR_MODEL:
                unresolved.append(f"{route} ({kwarg})")
                break
            values[kwarg] = FACTORY_FOR_MODEL[model](municipality_b).pk
            own_values[kwarg] = FACTORY_FOR_MODEL[model](municipality_a).pk
        else:
            url = _fill(route, values)
            is_api = url.startswith("/api/")
            # Positive control: the same URL with A's own object is found, so a 404 below
            # means "hidden", not "mistyped URL".
            own_url = _fill(route, own_values)
            admin = users_a[Role.ADMIN]
            own = (api_client_for(admin) if is_api else web_client_for(admin)).get(own_url)
            assert own.status_code != 404, f"{own_url} is not found even for its own admin"
            for role, user in users_a.items():
                if is_api:
                    api = api_client_for(user)
                    responses = [api.get(url), api.patch(url, {}, format="json"), api.delete(url)]
                else:
                    client.force_login(user)
                    responses = [client.get(url)]
                for response in responses:
                    # The most privileged role must see a plain 404; a role that may not use the
                    # endpoint at all is turned away (403) before any object is looked up.
                    allowed = {404} if role == Role.ADMIN else {404, 403, 405}
                    assert response.status_code in allowed, (
                        f"{role} of A got {response.status_code} for B's object at {url} "
                        f"({response.request['REQUEST_METHOD']})"
                    )
                    if response.status_code not in (403, 405):
                        assert response.status_code == 404
            checked.append(url)
    assert not unresolved, (
        "these URLs name an object but the walk cannot tell which model; declare `model`, "
        "`queryset` or `url_kwarg_models` on the view and register a factory in "
        f"tests/factories.py: {unresolved}"
    )
    # The register's own object pages must be among what was checked.
    assert any(u.startswith("/vehicles/") for u in checked)
    assert any(u.startswith("/api/v1/vehicles/") for u in checked)


def test_every_list_endpoint_shows_only_own_municipality(
    municipality_a, municipality_b, users_a, api_client_for
):
    for make in FACTORY_FOR_MODEL.values():
        make(municipality_a)
        make(municipality_b)
    admin = users_a[Role.ADMIN]
    api = api_client_for(admin)
    lists = 0
    for route, pattern in _all_routes():
        if _kwarg_names(route) or not route.startswith("api/v1/"):
            continue
        view_class = _view_class(pattern.callback)
        queryset = getattr(view_class, "queryset", None)
        if queryset is None or "get" not in getattr(pattern.callback, "actions", {"get": 1}):
            continue
        model = queryset.model
        response = api.get(_fill(route, {}))
        assert response.status_code == 200, (route, response.status_code)
        body = response.json()
        rows = body["results"] if isinstance(body, dict) and "results" in body else body
        if isinstance(rows, dict) and "features" in rows:
            rows = [
                feature.get("properties", {}) | {"id": feature.get("id")}
                for feature in rows["features"]
            ]
        ids = [row["id"] for row in rows if isinstance(row, dict) and "id" in row]
        if model._meta.model_name == "municipality":
            leaked = model.objects.filter(pk__in=ids).exclude(pk=municipality_a.pk)
        elif any(f.name == "municipality" for f in model._meta.get_fields()):
            leaked = model.objects.filter(pk__in=ids).exclude(municipality=municipality_a)
        else:
            continue
        assert not leaked.exists(), f"{route} lists objects of another municipality"
        lists += 1
    assert lists >= 4


@pytest.mark.parametrize("name", ["vehicle_create", "driver_create", "document_create"])
def test_driver_cannot_reach_register_create_pages(name, users_a, web_client_for):
    client = web_client_for(users_a[Role.DRIVER])
    assert client.get(f"/{name.split('_')[0]}s/new/").status_code == 403


def test_driver_cannot_reach_register_edit_pages(municipality_a, users_a, web_client_for):
    vehicle = FACTORY_FOR_MODEL[Vehicle](municipality_a)
    driver = FACTORY_FOR_MODEL[Driver](municipality_a)
    client = web_client_for(users_a[Role.DRIVER])
    for url in (
        f"/vehicles/{vehicle.pk}/edit/",
        f"/drivers/{driver.pk}/edit/",
        f"/vehicles/{vehicle.pk}/",
        "/vehicles/",
        "/drivers/",
        "/documents/",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/vehicles/{vehicle.pk}/edit/", {"plate": "ΚΗΥ-9999"}).status_code == 403
    vehicle.refresh_from_db()
    assert vehicle.plate != "ΚΗΥ-9999"


def test_role_table_matches_what_pages_allow(municipality_a, users_a, web_client_for):
    vehicle = FACTORY_FOR_MODEL[Vehicle](municipality_a)
    for role, user in users_a.items():
        client = web_client_for(user)
        status = client.get(f"/vehicles/{vehicle.pk}/edit/").status_code
        expected = 200 if has_capability(user, "register.edit") else 403
        assert status == expected, (role, status)
