"""The questionnaire (/start, /restart, buttons q:): its handlers and the keeper that commits its
state and brings the chat to it.
"""
