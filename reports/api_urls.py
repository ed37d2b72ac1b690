from rest_framework.routers import SimpleRouter

from reports import api

router = SimpleRouter()
router.register("reports/runs", api.ReportRunViewSet)

urlpatterns = router.urls
