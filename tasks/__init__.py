"""Stage functions: pure, typed, tested without Prefect."""
