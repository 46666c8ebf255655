"""The scheduler adapter: an APScheduler job whose tick turns due rows into check-ins and alerts."""
