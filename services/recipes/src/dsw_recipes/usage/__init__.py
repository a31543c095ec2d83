"""Which models use which recipe version (a read model fed by training events)."""
