"""What an operator watches: `/healthz`, `/readyz` and Prometheus `/metrics` on `COACHBOT_OPS_PORT`.

`metrics` defines every metric (counters fed by the Telegram adapter, gauges read from the database
on each scrape); `readings` holds the bounded queries behind the gauges and the readiness check;
`server` serves the three paths on the bot's own event loop (tornado, which PTB's webhooks bring).
"""
