"""Measuring: tasks with held-out splits, scores with their standard errors, reports and plots."""
