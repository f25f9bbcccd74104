"""jobkit's embedded engine: one module per concern (see the package's modules)."""
