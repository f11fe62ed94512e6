"""CrampCheck: a muscle-cramp triage bot for hikers and athletes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crampcheck")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
