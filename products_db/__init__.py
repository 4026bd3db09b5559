"""The shared products database: where it is, how to start a local one, its schema, seed and input rules."""
