"""Organiser pages of a training session: overview, roster, marks, outcomes, exports, report."""
