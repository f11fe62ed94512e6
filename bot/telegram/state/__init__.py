"""What the bot keeps per user between updates: the questionnaire's conversation record, the
preferences, the ledger of applied updates, and `records.py`, the one way every feature loads and
compare-and-sets its typed record.
"""
