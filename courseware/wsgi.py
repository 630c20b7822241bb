"""WSGI entry point, for tools that want one; Lotse itself is served over ASGI."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseware.settings")
application = get_wsgi_application()
