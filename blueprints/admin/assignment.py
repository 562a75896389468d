"""Organiser views for assignment, draws and panel exports. Filled in by the assignment work."""
