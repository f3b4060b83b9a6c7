"""`streetsight eval`: event-level precision, recall, F1 and time-to-detection against labelled videos."""
