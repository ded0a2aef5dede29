"""Settings, database models and sessions, the experiment spec: what every part shares."""
