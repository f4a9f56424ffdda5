import sys

from anchors.cli import main

sys.exit(main())
