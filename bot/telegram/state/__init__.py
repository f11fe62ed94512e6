"""What the bot keeps per user between updates: the questionnaire's conversation record and the
preferences.
"""
