app_name = "telematics"

urlpatterns: list = []
