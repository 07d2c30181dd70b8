"""What the bank announces to the apps that build on it (the model grader listens; quizbank imports none)."""

from django.dispatch import Signal

# Sent after commit with answer_ids: answers a key could not grade (essays, unmatched short answers).
answers_need_grading = Signal()
