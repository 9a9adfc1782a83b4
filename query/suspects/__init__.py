"""Ranking an incident's suspects."""
