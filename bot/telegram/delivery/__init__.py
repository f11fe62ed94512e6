"""Updates coming in: parsing, long polling, the webhook, the update processor and the per-record
ledger of applied updates.
"""
