"""dsw_catalog."""
