import sys

from convzoo.cli.commands import main

sys.exit(main())
