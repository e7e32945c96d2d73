"""What `make serve` runs: collect the static files, then the dashboard and API under gunicorn.

    python -m feefifofunds.web.serve [extra gunicorn options]

Host, port and workers come from the settings (FEEFIFOFUNDS_HOST, FEEFIFOFUNDS_PORT, FEEFIFOFUNDS_WORKERS).
Loading the settings here, before gunicorn forks its workers, creates the per-install secret key once.
The browser test starts the server through this same module.
"""

from __future__ import annotations

import os
import sys


def gunicorn_argv(settings, extra: list[str]) -> list[str]:
    return [
        "gunicorn",
        "feefifofunds_project.wsgi:application",
        "--bind", f"{settings.SERVE_HOST}:{settings.SERVE_PORT}",
        "--workers", str(settings.SERVE_WORKERS),
        "--timeout", "120",
        "--access-logfile", "-",
        *extra,
    ]


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feefifofunds_project.settings")
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("collectstatic", interactive=False, verbosity=0)
    print(f"FeeFiFoFunds dashboard: http://{settings.SERVE_HOST}:{settings.SERVE_PORT}/  "
          f"(API docs: /api/docs)", flush=True)
    from gunicorn.app.wsgiapp import run

    sys.argv = gunicorn_argv(settings, list(sys.argv[1:] if argv is None else argv))
    run()


if __name__ == "__main__":
    main()
