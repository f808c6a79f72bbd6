import os

from django.core.wsgi import get_wsgi_application

from core.gc import loaded_application_freeze

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "twinmcp.settings.production")

application = get_wsgi_application()
loaded_application_freeze()
