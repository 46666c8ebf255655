"""Data rights that keep the consent text's promises: erasure (/forget, `coachbot patients erase`),
export (/mydata and `coachbot patients export`, JSON and a CSV of measurements), retention purge
(`COACHBOT_RETENTION_DAYS`), withdrawing consent, and clearing sent message bodies from the outbox."""
