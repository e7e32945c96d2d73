"""Dashboard pages and the read-only JSON API (included from the project's urls.py)."""

from django.urls import include, path, re_path

from . import api, views

api_patterns = [
    path("assets", api.assets, name="assets"),
    path("assets/<str:ticker>", api.asset_detail, name="asset"),
    path("candles", api.candles, name="candles"),
    path("gaps", api.gaps, name="gaps"),
    path("openapi.json", api.openapi, name="openapi"),
    re_path(r"^(?P<rest>.*)$", api.not_found),
]

urlpatterns = [
    path("", views.asset_list, name="asset-list"),
    path("assets/<str:ticker>/", views.asset_page, name="asset-page"),
    path("api/", include((api_patterns, "feefifofunds-api"))),
]
