from django.apps import AppConfig


class AsyncApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "async_api"
