"""Teachers: choose what the student practises next."""

from .alp_gmm import ALPGMMTeacher
from .base import Outcome, Skill, Teacher, cell_key
from .ladder import LadderTeacher
from .progress import ProgressTeacher
from .skill_it import SkillItTeacher
from .ucb import UCBTeacher
from .uniform import UniformTeacher

BUILTIN_TEACHERS: dict[str, type[Teacher]] = {
    "uniform": UniformTeacher,
    "ladder": LadderTeacher,
    "progress": ProgressTeacher,
    "ucb": UCBTeacher,
    "alp-gmm": ALPGMMTeacher,
    "skill-it": SkillItTeacher,
}

__all__ = [
    "ALPGMMTeacher",
    "BUILTIN_TEACHERS",
    "LadderTeacher",
    "Outcome",
    "ProgressTeacher",
    "Skill",
    "SkillItTeacher",
    "Teacher",
    "UCBTeacher",
    "UniformTeacher",
    "cell_key",
]
