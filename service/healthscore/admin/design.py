"""Admin commands: see `healthscore.admin`."""

from __future__ import annotations

import argparse


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers this module's subcommands."""
