"""Dialog files: YAML -> pydantic models -> semantic checks -> the immutable library the engine runs."""

from coachbot.spec.compile import check_path, load_library
from coachbot.spec.problems import DialogError, Problem

__all__ = ["DialogError", "Problem", "check_path", "load_library"]
