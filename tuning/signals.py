"""What tuning announces. Tuning imports no inference code: inference listens to these.

A run's new version goes trained -> evaluated -> promotable. Tuning registers it trained and sends
`version_trained`; inference runs the checks a new version goes through (grading agreement on the
held-out teacher grades, in process) and records them through tuning's services, which mark it
evaluated, then promotes it when the run asked for that. Promotion sends `version_promoted`, on which
inference explains the bank with the new version.
"""

from django.dispatch import Signal

# Sent after commit with version_id, version_name, promote (the run asked for its result to be made
# active once evaluated) and inline (evaluate in this process before returning, as `tune --inline`
# does; otherwise the evaluation is queued).
version_trained = Signal()

# Sent after commit with version_name: the version the model server now serves (or will, once restarted).
version_promoted = Signal()

# Sent after commit with version_id, version_name and inline, when a version is registered rather than
# trained (a base model): inference scores it on the evaluation suites, so every version has scores.
version_registered = Signal()
