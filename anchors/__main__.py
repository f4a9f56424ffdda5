import sys

from anchors.cli.app import main

sys.exit(main())
