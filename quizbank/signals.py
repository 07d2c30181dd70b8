"""What the bank announces: to the apps that build on it (the model grader listens; quizbank imports none),
and to its own tasks (quizbank/receivers.py), so that services, which tasks call, import no task."""

from django.dispatch import Signal

# Sent after commit with answer_ids: answers a key could not grade (essays, unmatched short answers).
answers_need_grading = Signal()
# Sent after commit with job_id: an import job too large for the request, for a worker to run.
import_job_queued = Signal()
