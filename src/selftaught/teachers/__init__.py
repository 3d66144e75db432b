"""Teachers: choose what the student practises next."""

from .base import Outcome, Teacher
from .ladder import LadderTeacher

BUILTIN_TEACHERS: dict[str, type[Teacher]] = {"ladder": LadderTeacher}

__all__ = ["BUILTIN_TEACHERS", "LadderTeacher", "Outcome", "Teacher"]
