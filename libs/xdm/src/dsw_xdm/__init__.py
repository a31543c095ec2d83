"""dsw_xdm."""
