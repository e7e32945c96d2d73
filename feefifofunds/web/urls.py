"""Dashboard pages and the read-only JSON API (included from the project's urls.py)."""

from django.urls import path

from . import views
from .api import api

urlpatterns = [
    path("", views.asset_list, name="asset-list"),
    path("assets/<str:ticker>/", views.asset_page, name="asset-page"),
    path("api/", api.urls),
]
