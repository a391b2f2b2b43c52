import sys

from assistant.evaluation.cli import main

sys.exit(main())
