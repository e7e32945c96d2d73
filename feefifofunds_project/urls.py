from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("feefifofunds.web.urls")),
]

# Errors outside the views are pages (dashboard) or JSON (/api/), never Django's bare HTML.
handler404 = "feefifofunds.web.errors.not_found"
handler500 = "feefifofunds.web.errors.server_error"
