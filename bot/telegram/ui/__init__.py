"""What the user sees and presses: callback data, keyboards, and sending and editing messages at
Telegram's pace (the outbox).
"""
