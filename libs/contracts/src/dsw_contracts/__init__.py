"""dsw_contracts."""
