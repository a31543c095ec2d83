"""pytest plugin: fixtures shared by every package's tests."""
