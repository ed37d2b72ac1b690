from rest_framework.routers import SimpleRouter

from fleet.api import register as api

router = SimpleRouter()
router.register("municipalities", api.MunicipalityViewSet)
router.register("departments", api.DepartmentViewSet)
router.register("vehicles", api.VehicleViewSet)
router.register("drivers", api.DriverViewSet)
router.register("documents", api.DocumentViewSet)

urlpatterns = router.urls
