import sys

from docsite.build import main

sys.exit(main())
