"""The bot's features, each findable by its command's name: questionnaire (/start), country, sweat,
checkins, summary; `registry.py` wires them.
"""
