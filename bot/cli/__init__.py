"""The `crampcheck` command line: the Telegram bot, the terminal chat and /sweat, `kb` tools, and
the operator's commands.
"""
