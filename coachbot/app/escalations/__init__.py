"""Escalations: raising them from the rules, alert cards, coaches' actions, deadlines and re-alerts."""
