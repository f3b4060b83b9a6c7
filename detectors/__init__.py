"""Per-event rules over tracks and zones, producing incidents (one per violation, not one per frame)."""
