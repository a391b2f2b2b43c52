"""`python -m assistant.evaluate ...`: the offline evaluation command line (assistant/evaluation/cli.py)."""
import sys

from assistant.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
