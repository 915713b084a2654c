"""N2N (token -> tag): named entities, one module per stage."""
