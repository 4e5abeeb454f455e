"""Difficulty: gold-answer log-probability, ensemble accuracy, IRT, and a composite score."""
