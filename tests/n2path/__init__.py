"""N2Path (dependency parsing) tests: its stage functions, readers, model and flow."""
