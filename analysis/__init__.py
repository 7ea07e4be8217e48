"""Analysis of a reading study: metrics, ensembles, statistical tests, agreement and intervals.

The numerical modules take arrays (see ``analysis.metrics`` for the conventions) and return named
results; they import neither Django nor the study's models, so they can be used on their own.
"""
