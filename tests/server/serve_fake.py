"""`healthscore serve` over `FakeApp` (its slow handler lets tests shut down with a call in
flight): `python -m tests.server.serve_fake [serve flags]`."""

import os
import sys

from healthscore.server import config, serve
from tests.server.fake_app import FakeApp

if __name__ == "__main__":
    from healthscore import cli

    args = cli.build_parser().parse_args(["serve", *sys.argv[1:]])
    sys.exit(serve.serve(config.config_from(vars(args), os.environ), open_app=FakeApp.open))
