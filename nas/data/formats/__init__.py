"""Dataset format readers: annotations -> list[HandRecord] (see nas/data/records.py)."""
