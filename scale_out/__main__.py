"""`python -m scale_out --hosts N [--port P] [--mode auto|namespace|loopback]`: the cluster (cluster.py)."""

import sys

from .cluster import main

if __name__ == "__main__":
    sys.exit(main())
