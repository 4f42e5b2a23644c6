"""The purposes (doelbinding) under which fields about a child are sealed.

The policy of who may hold which purpose's key lives in the processing register under
`infra/`; this module only names the purposes so contracts and services agree on them.
"""

from enum import StrEnum


class Purpose(StrEnum):
    IDENTITY = "identity"
    SIGNALLING = "signalling"
    HANDOVER = "handover"
    SUPPORT = "support"
    YOUTH_CARE = "youth_care"
    ATTENDANCE = "attendance"
    PLAN = "plan"
