"""`python -m bench [OPTIONS]`: the same command as `hanflow bench` (its options are defined once, in flows/cli.py)."""

import sys

from flows.cli import app

if __name__ == "__main__":
    app(args=["bench", *sys.argv[1:]], prog_name="python -m bench")
