"""District simulation: the batched core and the standard environment APIs."""
