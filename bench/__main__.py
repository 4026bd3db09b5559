"""`python -m bench [--quick] [options]`: run the benchmark matrix and write the result files."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
