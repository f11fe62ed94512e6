"""Honest test doubles for the Telegram side: never a mock on ``Bot``, never a socket.

* ``botapi.FakeBotApi``: a PTB ``BaseRequest`` that records every Bot API call, checks it against
  the spec in ``<repo>/../shared/telegram/api.json`` (CI only; built-in limit and keyboard checks
  always run), tracks what each bot message shows now and answers like the real server, including
  its 400 errors. ``fail_next`` injects 5xx, 429 and timeouts. Call ``assert_clean()`` at teardown.
* ``driver.ChatDriver``: one user in a private chat; ``send``, ``press`` and ``press_data`` feed
  realistic updates through ``Application.process_update``; ``last_text``, ``current_buttons`` and
  ``screen`` read what the user sees.

Build the application as ``Application.builder().token("123:TEST").request(api)
.get_updates_request(api).build()`` and enter it with ``async with app:``. Callback query ids must
come from ``api.new_callback_query_id()`` (the driver does this), because the fake, like Telegram,
refuses to answer an unknown or already answered query.
"""
