"""The Telegram adapter: thin glue between PTB updates, the pure engine and the session store.

`app.build_application` wires `handlers.QuestionnaireHandlers`; `conversation` keeps the
per-chat record and its one live message; `callbacks` spells button data; `keyboards` draws
buttons; `errors` recovers from expected Telegram errors and logs failures without user data.
"""
