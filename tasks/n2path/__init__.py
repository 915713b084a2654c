"""N2Path (tokens -> dependency tree): the stage functions of dependency parsing, one module per stage."""
