from django.contrib import admin

from .models import Asset


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ("ticker", "name", "category", "calendar", "quote_currency", "tier", "active", "updated_at")
    list_filter = ("category", "calendar", "tier", "active")
    search_fields = ("ticker", "name")
