"""Training and evaluation of the Action Unit model (not needed at run time)."""
