import os

from django.core.asgi import get_asgi_application

from core.gc import loaded_application_freeze

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "twinmcp.settings.production")

application = get_asgi_application()
loaded_application_freeze()
