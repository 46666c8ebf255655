"""Self-management: one suggested step at a time, learning what helps, coach pins and blocks."""
