from django.apps import AppConfig


class FeefifofundsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "feefifofunds"
    verbose_name = "FeeFiFoFunds"
