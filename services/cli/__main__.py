"""`python -m services.cli`: the `ketenbus` command (how the supervisor starts each service)."""

from services.cli import main

main()
