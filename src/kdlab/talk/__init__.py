"""The talk's four results: one module per figure (parameters, computation, plot, claim) and the report."""
