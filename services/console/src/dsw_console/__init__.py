"""The web console of the data science workspace."""

__version__ = "0.1.0"
