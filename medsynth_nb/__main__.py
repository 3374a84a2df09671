import sys

from medsynth_nb.cli import main

sys.exit(main())
