"""Shell names `env --shell` accepts beyond its formats, and what a failed `env` prints.

``bash``, ``zsh``, ``dash`` and ``ksh`` read POSIX ``sh`` syntax, and ``pwsh`` is PowerShell.

A failed `env` prints, for the shell that evaluates its output, a statement that fails, so that
``set -e`` stops and ``$?`` is non-zero (SPEC §13; ``ladder.guarded`` prints it): ``eval ""``
succeeds, whatever oauthcli's exit status was. For cmd, ``cmd /c exit 1`` sets ERRORLEVEL 1
without leaving the batch file (``exit /b`` typed at a prompt would close the window). The data
formats (dotenv, gitlab, json, github) get nothing: their parsers skip or reject a bad line
inconsistently, so they rely on the exit status, as any file written with ``>`` must.
"""

from __future__ import annotations

SHELL_ALIASES: dict[str, str] = {
    "bash": "sh", "zsh": "sh", "dash": "sh", "ksh": "sh", "pwsh": "powershell",
}  # fmt: skip
DATA_FORMATS = ("dotenv", "github", "gitlab", "json")
FAILURE_STATEMENTS: dict[str, str] = {
    "sh": "false\n",
    "fish": "false\n",
    "powershell": "throw 'oauthcli env failed: see the error above'\n",
    "cmd": "cmd /c exit 1\n",
}


def canonical_shell(shell: str) -> str:
    """``bash``, ``zsh`` … are spelled ``sh`` here: one POSIX syntax serves them all."""
    return SHELL_ALIASES.get(shell, shell)


def failure_statement(shell: str) -> str:
    """The text a failed `env --shell SHELL` prints (an unknown shell gets sh's ``false``)."""
    shell = canonical_shell(shell)
    return FAILURE_STATEMENTS.get(shell, "" if shell in DATA_FORMATS else "false\n")
