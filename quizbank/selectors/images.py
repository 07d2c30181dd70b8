"""Question images by the name their address carries."""

from __future__ import annotations

from quizbank.images import IMAGE_FOLDER
from quizbank.models import QuestionImage


def question_image_by_name(*, name: str) -> QuestionImage | None:
    """The stored image served as /media/question-images/<name>, or None."""
    return QuestionImage.objects.filter(file=f"{IMAGE_FOLDER}/{name}").first()


def question_images_by_names(*, names: list[str]) -> dict[str, QuestionImage]:
    """The stored images among `names` (`<sha256>.<ext>`), by name; names with no image are left out."""
    images = QuestionImage.objects.filter(file__in=[f"{IMAGE_FOLDER}/{name}" for name in names])
    return {str(image.file.name).rsplit("/", 1)[-1]: image for image in images}
