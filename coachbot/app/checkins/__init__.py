"""Check-ins: starting due ones, reminding, and the shorter check-ins of a flare-up."""
