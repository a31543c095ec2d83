"""The data science workspace's Python SDK and ``dsw`` command line."""

__version__ = "0.1.0"
