"""Every command, argument and option of the command line, as plain data: the one source of truth.

Two parsers read these specifications: the Typer app (``cli.py`` builds each command and its
``typer.Option``s from them) and the typer-free fast path (``entry.py``), which answers plain
`token`, `refresh` and `git-credential` lines of one profile without importing typer. Both call
the same command body, named here as ``module:function``. This module imports nothing beyond the
standard library's typing: it is on the cached `token` path (SPEC §8), and NamedTuples cost a
fifth of what dataclasses cost to define.
"""


from collections.abc import Callable
from typing import Any, Literal, NamedTuple

FORMATS = ("token", "json", "header", "table", "exec-credential")
FAST_FORMATS = ("token", "json", "header", "exec-credential")  # `table` draws with rich
SHELLS = ("sh", "fish", "powershell", "cmd", "dotenv", "github", "gitlab", "json")
REPORT_FORMATS = ("table", "json")
GIT_ACTIONS = ("get", "store", "erase")

Completion = Literal["profiles", "providers", "choices"] | None


class Opt(NamedTuple):
    """One option: its destination (the body's keyword), spellings, and what it takes."""

    dest: str
    flags: tuple[str, ...]  # long spelling first: ("--format", "-f")
    help: str
    kind: Literal["flag", "text", "number", "texts"] = "text"  # texts: repeatable
    default: Any = None
    minimum: float | None = None
    choices: tuple[str, ...] = ()  # offered by completion; bodies check values themselves
    fast_values: tuple[str, ...] | None = None  # values entry.py answers (None: any)
    metavar: str | None = None
    complete: Completion = None
    eager: bool = False  # acts while parsing (--version)
    fast: bool = True  # False: a line with it always goes to the Typer app

    @property
    def takes_value(self) -> bool:
        return self.kind != "flag"


class Arg(NamedTuple):
    dest: str
    help: str
    many: bool = False
    required: bool = True
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    complete: Completion = "profiles"


class Command(NamedTuple):
    name: str
    help: str
    body: str  # "module:function"; called as function(world, **values)
    arguments: tuple[Arg, ...] = ()
    options: tuple[Opt, ...] = ()
    fast: bool = False  # entry.py may answer it without typer

    def load(self) -> Callable[..., None]:
        """The body, imported on first use (most runs need one command module)."""
        from importlib import import_module

        module, _, name = self.body.partition(":")
        function: Callable[..., None] = getattr(import_module(module), name)
        return function


# --- global options (before or after the command) -------------------------------------------

CONFIG = Opt("config", ("--config", "-c"), "Profiles file ('-' reads YAML from stdin).",
             metavar="PATH")  # fmt: skip
STATE_DIR = Opt("state_dir", ("--state-dir",),
                "Where stored tokens live (also $OAUTHCLI_STATE_DIR).", metavar="DIR")  # fmt: skip
STORE = Opt("store", ("--store",),
            "Token store: file (default) or redis://… (also $OAUTHCLI_STORE).",
            metavar="URL")  # fmt: skip
VERBOSE = Opt("verbose", ("--verbose", "-v"), "Trace requests to stderr, secrets redacted.",
              "flag", default=False, fast=False)  # fmt: skip
QUIET = Opt("quiet", ("--quiet", "-q"), "Only output and errors.", "flag", default=False)
NO_COLOR = Opt("no_color", ("--no-color",), "No colours (also when NO_COLOR is set).", "flag",
               default=False)  # fmt: skip
VERSION = Opt("version", ("--version",), "Print the version.", "flag", default=False, eager=True,
              fast=False)  # fmt: skip

GLOBALS = (CONFIG, STATE_DIR, STORE, VERBOSE, QUIET, NO_COLOR, VERSION)
# Typer adds --help/-h, --install-completion and --show-completion itself.

# --- command options -------------------------------------------------------------------------

FORMAT = Opt("fmt", ("--format", "-f"), "token (default), json, header, table or exec-credential.",
             choices=FORMATS, fast_values=FAST_FORMATS, metavar="FORMAT",
             complete="choices")  # fmt: skip
REPORT_FORMAT = Opt("fmt", ("--format", "-f"), "table (default) or json.", choices=REPORT_FORMATS,
                    metavar="FORMAT", complete="choices")  # fmt: skip
LIST_FORMAT = Opt("fmt", ("--format", "-f"), "table (default on a terminal) or json (lines).",
                  choices=REPORT_FORMATS, metavar="FORMAT", complete="choices")  # fmt: skip
MIN_VALID = Opt("min_valid", ("--min-valid",),
                "Seconds the stored token must still be valid (default: the profile's, 60).",
                "number", minimum=0, metavar="S")  # fmt: skip
FORCE = Opt("force", ("--force",), "Refresh even if the stored token is still valid.", "flag",
            default=False)  # fmt: skip
PREFIX = Opt("prefix", ("--prefix",),
             "Prefix variable names: P for all, NAME=P for one profile; {PROFILE} expands.",
             "texts", metavar="P")  # fmt: skip
SHELL = Opt("shell", ("--shell", "-s"), f"Output syntax: {', '.join(SHELLS)}.", default="sh",
            choices=SHELLS, metavar="SHELL", complete="choices")  # fmt: skip
TOKEN = Opt("token", ("--token",), "Check this token instead of the stored one; '-' reads it "
            "from stdin (safer than the command line).", metavar="T")  # fmt: skip


def _flag(dest: str, flag: str, help: str) -> Opt:
    return Opt(dest, (flag,), help, "flag", default=False)


PROFILE = Arg("profile", "Profile name.")
ACTION = Arg("action", "get, store or erase (git sends it).", choices=GIT_ACTIONS,
             metavar="get|store|erase", complete="choices")  # fmt: skip
PROVIDER = Arg("provider", "Provider to add; without it, list the catalogue.", required=False,
               complete="providers")  # fmt: skip

COMMANDS: tuple[Command, ...] = (
    Command(
        "refresh",
        "Call the token endpoint (always), store the result and print the access token.",
        "oauthcli.commands.refresh:refresh",
        (Arg("profiles", "Profiles to refresh.", many=True, required=False),),
        (_flag("all_profiles", "--all", "Refresh every profile."), FORMAT,
         _flag("dry_run", "--dry-run", "Print the request, secrets redacted; send nothing.")),
        fast=True,
    ),
    Command(
        "token",
        "Print a valid access token: the stored one if fresh enough, else refresh first.",
        "oauthcli.commands.token:token", (PROFILE,), (FORMAT, MIN_VALID, FORCE), fast=True,
    ),
    Command(
        "login",
        "Sign in (browser with PKCE, or a device code) and store the first refresh token.",
        "oauthcli.commands.login:login", (PROFILE,),
        (_flag("device", "--device", "Use the device flow (RFC 8628): a code to enter "
               "on any device with a browser."),
         _flag("no_browser", "--no-browser", "Print the URL instead of opening a browser; on "
               "a terminal, paste the redirected URL back."),
         Opt("timeout", ("--timeout",), "Seconds the whole login may take (default 300).",
             "number", minimum=0, metavar="S")),
    ),
    Command(
        "env",
        'Print statements that export the access token (eval "$(oauthcli env P)").',
        "oauthcli.commands.env:env", (Arg("profiles", "Profiles to export.", many=True),),
        (SHELL, PREFIX, FORCE),
    ),
    Command(
        "exec",
        "Run COMMAND with the exported variables in its environment (no shell, no eval).",
        "oauthcli.commands.exec_:exec_",
        (Arg("words", "PROFILE… -- COMMAND [ARG…]", many=True, metavar="PROFILE… -- COMMAND"),),
        (PREFIX, FORCE),
    ),
    Command(
        "validate",
        "Check a token: expiry, JWT claims and signature, introspection, a probe request.",
        "oauthcli.commands.validate:validate", (PROFILE,),
        (TOKEN, _flag("refresh", "--refresh",
                      "Refresh first if the stored token is missing or stale."),
         REPORT_FORMAT, MIN_VALID),
    ),
    Command(
        "list",
        "List the profiles: token URL, method, description and stored-token status.",
        "oauthcli.commands.list_:list_profiles", (), (LIST_FORMAT,),
    ),
    Command(
        "show",
        "Print the profile as it will be used (defaults and extends merged), secrets redacted.",
        "oauthcli.commands.show:show", (PROFILE,),
    ),
    Command(
        "check",
        "Lint the profiles file: schema, unresolved references, insecure settings.",
        "oauthcli.commands.check:check", (),
        (_flag("strict", "--strict", "Treat unresolved references as errors."),),
    ),
    Command(
        "trust", "Allow ./oauthcli.yaml (or PATH) to be used: records its content hash.",
        "oauthcli.commands.trust:trust",
        (Arg("path", "The profiles file (default ./oauthcli.yaml).", required=False,
             metavar="[PATH]", complete=None),),
        (_flag("untrust", "--untrust", "Forget the file's trust."),),
    ),
    Command(
        "forget",
        "Delete stored tokens (and revoke them at the provider when asked).",
        "oauthcli.commands.forget:forget",
        (Arg("profiles", "Profiles to forget.", many=True, required=False),),
        (_flag("all_profiles", "--all", "Forget every stored token."),
         _flag("do_revoke", "--revoke",
               "Revoke the refresh token at revocation_url first (RFC 7009)."),
         Opt("yes", ("--yes", "-y"), "Do not ask before dropping a rotated refresh token that "
             "is not revoked (needed when stdin is not a terminal).", "flag", default=False)),
    ),
    Command(
        "demo",
        "Show refresh → rotation → env → validate against a local demo provider; "
        "touches no files.",
        "oauthcli.commands.demo:demo",
    ),
    Command(
        "git-credential",
        "Git credential helper: `get` answers the access token as the password.",
        "oauthcli.commands.git_credential:git_credential", (PROFILE, ACTION), fast=True,
    ),
    Command(
        "init",
        "Add a provider's profile from the built-in catalogue to the profiles file.",
        "oauthcli.commands.init:init", (PROVIDER,),
    ),
)  # fmt: skip

BY_NAME = {c.name: c for c in COMMANDS}

_GLOBAL_FLAGS = {f for o in GLOBALS if not o.takes_value and not o.eager for f in o.flags}
_GLOBAL_VALUED = {f for o in GLOBALS if o.takes_value for f in o.flags}


def hoist_globals(argv: list[str]) -> list[str]:
    """Let global options follow the command too (`oauthcli check -c FILE`), up to `--`.

    Both parsers see the command line after this step, so they agree on what belongs to whom.
    """
    hoisted: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest += [arg, *args]
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS:
            hoisted.append(arg)
        elif name in _GLOBAL_VALUED and "=" in arg:
            hoisted.append(arg)
        elif arg in _GLOBAL_VALUED:
            hoisted += [arg, next(args, "")]
        else:
            rest.append(arg)
    return hoisted + rest
