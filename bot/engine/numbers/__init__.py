"""Emergency numbers: the per-country table, finding a country by name, and the country at a
position.
"""
