"""Domain operations: plain inputs in, results out. They flush and never commit."""
