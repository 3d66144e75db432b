"""Teachers: choose what the student practises next."""

from selftaught.teachers.alp_gmm import ALPGMMTeacher
from selftaught.teachers.base import Outcome, Skill, Teacher, cell_key
from selftaught.teachers.ladder import LadderTeacher
from selftaught.teachers.mastery import MasteryTeacher
from selftaught.teachers.progress import ProgressTeacher
from selftaught.teachers.skill_it import SkillItTeacher
from selftaught.teachers.syllabus import SyllabusTeacher
from selftaught.teachers.ucb import UCBTeacher
from selftaught.teachers.uniform import UniformTeacher

BUILTIN_TEACHERS: dict[str, type[Teacher]] = {
    "uniform": UniformTeacher,
    "ladder": LadderTeacher,
    "progress": ProgressTeacher,
    "ucb": UCBTeacher,
    "alp-gmm": ALPGMMTeacher,
    "skill-it": SkillItTeacher,
    "mastery": MasteryTeacher,
}

# Teachers that wrap another project's curriculum, which comes with an optional extra; the class imports that
# package when it is built, so naming one without the extra installed is a one-line error, not an import failure.
EXTRA_TEACHERS: dict[str, type[Teacher]] = {
    "syllabus-lp": SyllabusTeacher,
}

__all__ = [
    "ALPGMMTeacher",
    "BUILTIN_TEACHERS",
    "EXTRA_TEACHERS",
    "LadderTeacher",
    "MasteryTeacher",
    "Outcome",
    "ProgressTeacher",
    "Skill",
    "SkillItTeacher",
    "SyllabusTeacher",
    "Teacher",
    "UCBTeacher",
    "UniformTeacher",
    "cell_key",
]
