"""dsw_serving."""
