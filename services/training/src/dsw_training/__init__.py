"""dsw_training."""
