from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class GreekFirstLocaleMiddleware(LocaleMiddleware):
    """Pages are in Greek unless the user picked English (the language cookie).

    The staff's browsers often say English; the office works in Greek. API clients still
    negotiate with Accept-Language, as integrators expect.
    """

    def process_request(self, request):
        if request.path.startswith("/api/"):
            return super().process_request(request)
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
