"""Training code. The only package (besides the model server's entry point) that imports torch."""
