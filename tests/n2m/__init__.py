"""Tests of the N2M (sequence -> sequence) dialogue problem type: tasks/n2m/, flows/n2m.py, models/n2m.py."""
