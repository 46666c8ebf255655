"""Coaches: joining, their tools in Telegram, relays with patients, summaries and administration."""
