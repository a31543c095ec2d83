"""The training service of the data science workspace."""

__version__ = "0.1.0"
