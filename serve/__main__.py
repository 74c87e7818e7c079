"""`python -m serve run | openapi` (serve/launcher.py), `cluster` (serve/cluster.py),
`deploy` (serve/deploy.py), `smoke` (serve/smoke.py)."""

import sys

COMMANDS = {"cluster": "serve.cluster", "deploy": "serve.deploy", "smoke": "serve.smoke"}

if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
    import importlib

    sys.exit(importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:]))

from serve.launcher import main  # noqa: E402

sys.exit(main())
