"""`python -m services.asyncapi`: write (or `--check`) contracts/asyncapi.yaml."""

import sys

from services.asyncapi import main

sys.exit(main())
