"""dsw_kit."""
