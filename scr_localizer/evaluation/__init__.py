"""Accuracy and latency metrics and reports."""
