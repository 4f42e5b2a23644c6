"""monitor's composition root."""

from __future__ import annotations

from services.monitor.application import MonitorApplication
from services.monitor.handlers import CONSUMES
from services.runtime.service import Service

SERVICE = Service(MonitorApplication, CONSUMES)
create_application = SERVICE.create_application
service_spec = SERVICE.service_spec
