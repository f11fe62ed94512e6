"""All user-facing wording, assembled from the knowledge base's texts; plain text, no markup.

`questionnaire.py`: questions, results, why/more, cards, the summary, the check-in reply and the
bot's own messages (welcome, privacy, about); `sweat.py`: /sweat's questions, plan and errors;
`numbers.py`: an emergency-number line and a position read out. The engine decides, this package
words it; the Telegram adapter and the terminal chat both show what it returns.
"""
