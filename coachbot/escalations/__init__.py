"""Escalations in use: the rules of dialogs/escalation.yaml evaluated after every answer and missed
check-in, the alert card to the patient's coach, the coaches' actions on it, and the deadlines.

The decisions are pure (`coachbot.care.escalation_rules`); these modules read and write the database
inside the caller's transaction, so an escalation commits with the answer that caused it.
"""
