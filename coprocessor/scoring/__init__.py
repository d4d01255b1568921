"""Feature specs, fixed-point models and the scoring pipeline (the twin of the guest's
request::run).
"""
