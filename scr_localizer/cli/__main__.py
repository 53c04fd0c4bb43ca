import sys

from scr_localizer.cli import main

sys.exit(main())
