"""Recipes and their versions: the registry's REST resources."""
