"""Prefect flows, the stage graph, and the hanflow CLI."""
