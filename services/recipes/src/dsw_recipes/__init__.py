"""dsw_recipes."""
