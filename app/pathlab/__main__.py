import sys

from pathlab.cli import main

sys.exit(main())
