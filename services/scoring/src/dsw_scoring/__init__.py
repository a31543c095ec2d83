"""dsw_scoring."""
