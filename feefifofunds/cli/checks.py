"""The system checks the project's management commands run before they start.

Django runs every check before a command unless the command says which; the URL check imports the whole
URLconf (the web views, the API and Ninja with pydantic), half a second of each data command's start that
tells a cron run nothing. The commands run every other check; the web worker (``wsgi.py`` checks the URLconf
as it loads it) and ``manage.py check`` still check the URLs.
"""

from django.core.checks import Tags

WITHOUT_URLS = [tag for name, tag in vars(Tags).items() if not name.startswith("_") and tag != Tags.urls]
