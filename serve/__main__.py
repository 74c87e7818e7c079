"""`python -m serve run | openapi`: see serve/launcher.py."""

import sys

from serve.launcher import main

sys.exit(main())
