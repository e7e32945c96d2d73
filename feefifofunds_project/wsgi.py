import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feefifofunds_project.settings")
application = get_wsgi_application()
# The URLconf, and with it the views and the API, imported as the worker starts: its first request (often the
# dashboard's asset list right after a cron write) costs what the later ones cost.
get_resolver().check()
