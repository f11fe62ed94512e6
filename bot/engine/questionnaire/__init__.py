"""The questionnaire: session, state machine, routing (what to ask next), scoring (triage, causes,
advice) and case runs.
"""
