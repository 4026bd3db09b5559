"""`python -m bench [--quick] [options]`: run the benchmark matrix and write the result files."""

from .cli import main
from .processes import run_main

if __name__ == "__main__":
    run_main(main)
