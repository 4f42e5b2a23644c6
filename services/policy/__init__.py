"""Shared rules as data, read by more than one service or adapter, so that none imports another.

- the processing register and the relation rules (`register`, `relations`, `loading`): kluis
  releases keys by them, the feed decides what a partner sees by them;
- a region's truancy rules (`regions`): the truancy service, the monitor and the leerplicht
  adapter;
- the handover's disclosure and protocol rules (`handover`): the handover service and the OSO
  adapter.

Pure models and their loaders from `infra/`; nothing here connects or imports a service.
"""
