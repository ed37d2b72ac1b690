from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

import fleet.admin  # noqa: F401  (explicit admin registration; leaflet.admin needs GDAL)

api_patterns = [
    path("", include("fleet.api_urls")),
    path("", include("telematics.api_urls")),
    path("", include("dispatch.api_urls")),
    path("", include("reports.api_urls")),
    path("", include("notifications.api_urls")),
]

urlpatterns = [
    path("", include("fleet.urls")),
    path("telematics/", include("telematics.urls")),
    path("dispatch/", include("dispatch.urls")),
    path("reports/", include("reports.urls")),
    path("notifications/", include("notifications.urls")),
    path("api/v1/", include(api_patterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
]
