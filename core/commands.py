"""A base for management commands whose `--version` names a model version, not Django's."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class ModelVersionCommand(BaseCommand):
    def add_base_argument(self, parser: CommandParser, *args: Any, **kwargs: Any) -> None:
        if "--version" in args:
            return  # freed for the command's own --version (a model version name)
        super().add_base_argument(parser, *args, **kwargs)
