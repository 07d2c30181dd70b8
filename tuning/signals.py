"""What tuning announces (the explanation batch listens; tuning imports no inference code)."""

from django.dispatch import Signal

# Sent after commit with version_name: the version the model server now serves (or will, once restarted).
version_promoted = Signal()
