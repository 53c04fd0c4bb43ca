"""A built-in synthetic room (pure numpy ray casting) for the demo and as fast test data."""
