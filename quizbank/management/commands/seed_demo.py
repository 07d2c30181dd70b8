import os

from django.core.management.base import BaseCommand

from quizbank.demo import demo_seed


class Command(BaseCommand):
    help = "Create the demo users (student1, teacher1, admin1) and the demo exam. Safe to run again."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD", "quizsite-demo")
        result = demo_seed(password=password)
        self.stdout.write(f"demo users: {', '.join(result.usernames)} (password: {password})")
        self.stdout.write(f"demo exam: {result.paper.title!r} with {result.paper.items.count()} questions")
