"""`python -m bench [--quick] [options]`: run the benchmark matrix and write the result files."""

import sys

from .cli import main
from .processes import stop_on_sigterm

if __name__ == "__main__":
    stop_on_sigterm()
    sys.exit(main())
