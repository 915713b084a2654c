"""N2N (token -> tag, named entities): one module per pipeline stage, from the corpus readers to evaluation."""
