"""User-facing errors: each becomes exactly one line on stderr and exit status 2."""

from __future__ import annotations


class ArchsimError(Exception):
    """An error caused by the user's input; the CLI prints ``error: <message>`` and exits with 2."""

    exit_status = 2


class ConfigError(ArchsimError):
    """A configuration problem located at ``file`` and dotted ``key_path``."""

    def __init__(self, file: str, key_path: str, message: str):
        self.file = str(file)
        self.key_path = key_path or "(top level)"
        self.message = message
        super().__init__(f"{self.file}: {self.key_path}: {message}")
