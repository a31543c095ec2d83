"""Test helpers of the platform kit."""
