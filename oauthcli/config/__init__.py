"""The profiles file: locate and read it (load), its schema, and the frozen Profile model."""

from oauthcli.config.load import load, parse
from oauthcli.config.model import Config, Profile

__all__ = ["Config", "Profile", "load", "parse"]
