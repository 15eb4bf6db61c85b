"""Unit and golden tests of the `env` formats: names, quoting rules, GITHUB_ENV and masking.

The golden tests pin the exact text for each quoting rule, so a change to a rule shows up as a
reviewed diff here. Formats whose consumer cannot run on this machine (PowerShell, cmd.exe,
GitLab, GitHub's runner) are checked against those rules and against small parsers written
from the consumers' documented grammars; sh and fish are also run for real in
test_export_shells.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthcli.errors import ConfigError, UsageError
from oauthcli.export.shells import (
    DEFAULT_EXPORT,
    SHELLS,
    ExportVar,
    append_github_env,
    check_name,
    github_env_block,
    mask_lines,
    prefixed,
    render,
)

SECRET = "s3cr3t-Token-value"

# Any string an environment variable can hold: everything but NUL (C strings end there) and
# lone surrogates (not encodable as UTF-8, so no process can receive them).
env_values = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_characters="\0"),
        st.sampled_from("'\"\\$`!%;|&<>^()\n\r\t #=’‘"),
    ),
    max_size=40,
)


def var(name: str = "ACCESS_TOKEN", value: str = SECRET, secret: bool = True) -> ExportVar:
    return ExportVar(name, value, secret)


def one(value: str, shell: str, name: str = "V") -> str:
    return render([var(name, value)], shell)


# --- names and prefixes ----------------------------------------------------------------------


def test_defaults() -> None:
    assert SHELLS == ("sh", "fish", "powershell", "cmd", "dotenv", "github", "gitlab", "json")
    assert DEFAULT_EXPORT == {
        "ACCESS_TOKEN": "access_token",
        "TOKEN_TYPE": "token_type",
        "ACCESS_TOKEN_EXPIRES_AT": "expires_at",
    }


@pytest.mark.parametrize("name", ["A", "_", "ACCESS_TOKEN", "a1", "_9", "GH_TOKEN_2"])
def test_check_name_accepts_portable_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "1A", "A-B", "A B", "A.B", "ÄB", "A\n", "\nA", "A=B", "A<<B", "$A", "A;rm", "Ａ"],
)
def test_check_name_rejects_others(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_name(name, profile="google")
    assert repr(name) in caught.value.message
    assert "'google'" in caught.value.message
    assert caught.value.hint


def test_check_name_without_profile_does_not_mention_one() -> None:
    with pytest.raises(ConfigError, match="^invalid environment variable name '1A'$"):
        check_name("1A")


@pytest.mark.parametrize(
    ("name", "prefix", "expected"),
    [
        ("TOKEN", None, "TOKEN"),
        ("TOKEN", "", "TOKEN"),
        ("TOKEN", "GH_", "GH_TOKEN"),
        ("1X", "A", "A1X"),
    ],
)
def test_prefixed(name: str, prefix: str | None, expected: str) -> None:
    assert prefixed(name, prefix) == expected


@pytest.mark.parametrize(("name", "prefix"), [("T", "1"), ("T", "A-"), ("T", "A "), ("-", "A")])
def test_prefixed_rejects_invalid_result(name: str, prefix: str) -> None:
    with pytest.raises(ConfigError, match="prefix"):
        prefixed(name, prefix)


def test_prefixed_without_prefix_still_validates() -> None:
    with pytest.raises(ConfigError):
        prefixed("1A", None)


# --- render: common rules --------------------------------------------------------------------


def test_unknown_shell_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        render([var()], "tcsh")
    assert "tcsh" in caught.value.message
    assert "powershell" in (caught.value.hint or "")


@pytest.mark.parametrize("shell", SHELLS)
def test_empty_list_renders_nothing(shell: str) -> None:
    assert render([], shell) == ""


@pytest.mark.parametrize("shell", SHELLS)
def test_render_validates_names(shell: str) -> None:
    with pytest.raises(ConfigError, match="invalid environment variable name"):
        render([var("BAD NAME")], shell)


@pytest.mark.parametrize("shell", SHELLS)
def test_nul_is_refused_everywhere_without_showing_the_value(shell: str) -> None:
    with pytest.raises(ConfigError, match="NUL") as caught:
        render([var(value=SECRET + "\0")], shell)
    assert SECRET not in str(caught.value)
    assert "ACCESS_TOKEN" in str(caught.value)


@pytest.mark.parametrize("shell", [s for s in SHELLS if s != "github"])
def test_every_statement_ends_with_a_newline(shell: str) -> None:
    text = render([var("A", "x"), var("B", "y", secret=False)], shell)
    assert text.endswith("\n")
    assert text.count("\n") == (1 if shell == "json" else 2)


# --- sh and fish (also run for real in test_export_shells.py) ---------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "export V='abc'\n"),
        ("", "export V=''\n"),
        ("it's", "export V='it'\\''s'\n"),  # close, escaped quote, reopen
        ("''", "export V=''\\'''\\'''\n"),
        ("$HOME `id` $(id) \\ !", "export V='$HOME `id` $(id) \\ !'\n"),  # all literal
        ("a\nb", "export V='a\nb'\n"),  # newlines are literal inside single quotes
        ("é€😀", "export V='é€😀'\n"),
    ],
)
def test_sh_golden(value: str, expected: str) -> None:
    assert one(value, "sh") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "set -gx V 'abc'\n"),
        ("", "set -gx V ''\n"),
        ("it's", "set -gx V 'it\\'s'\n"),  # \' is fish's only quote escape
        ("a\\b", "set -gx V 'a\\\\b'\n"),  # and \\ its only backslash escape
        ("end\\", "set -gx V 'end\\\\'\n"),  # a final backslash cannot eat the quote
        ("\\'", "set -gx V '\\\\\\''\n"),
        ("$HOME (id) \n *", "set -gx V '$HOME (id) \n *'\n"),
    ],
)
def test_fish_golden(value: str, expected: str) -> None:
    assert one(value, "fish") == expected


# --- PowerShell: golden tests of its single-quote rules -------------------------------------
# In a PowerShell single-quoted string nothing expands ($, `, " are literal); the only special
# characters are the quote characters, and PowerShell accepts five of them: ' and the
# typographic U+2018, U+2019, U+201A, U+201B. Two quote characters in a row stand for the
# second one, so each is doubled with itself. CR and LF are spelled "`r" and "`n" between
# single-quoted pieces, keeping each statement on one line for `| Invoke-Expression`.


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "$Env:V = 'abc'"),
        ("", "$Env:V = ''"),
        ("it's", "$Env:V = 'it''s'"),
        ("\u2018x\u2019", "$Env:V = '\u2018\u2018x\u2019\u2019'"),
        ("\u201a\u201b", "$Env:V = '\u201a\u201a\u201b\u201b'"),
        ('$Env:PATH `n "$(calc)"', "$Env:V = '$Env:PATH `n \"$(calc)\"'"),
        ("a\nb", "$Env:V = 'a' + \"`n\" + 'b'"),
        ("a\r\n", '$Env:V = \'a\' + "`r" + "`n"'),
        ("\n", '$Env:V = "`n"'),
        ("x'\n'; calc; '", "$Env:V = 'x''' + \"`n\" + '''; calc; '''"),
    ],
)
def test_powershell_golden(value: str, expected: str) -> None:
    assert one(value, "powershell") == expected + "\n"


@given(env_values)
def test_powershell_statement_is_one_line_and_quotes_balance(value: str) -> None:
    line = one(value, "powershell")
    assert line.count("\n") == 1 and "\r" not in line
    assert _parse_powershell(line) == value


def _parse_powershell(line: str) -> str:
    """A reader of exactly the expressions the renderer writes, following PowerShell's rules."""
    quotes = "'\u2018\u2019\u201a\u201b"
    body = line.removeprefix("$Env:V = ").removesuffix("\n")
    out, i = [], 0
    while i < len(body):
        if body.startswith('"`n"', i) or body.startswith('"`r"', i):
            out.append("\n" if body[i + 2] == "n" else "\r")
            i += 4
        else:
            assert body[i] == "'"
            i += 1
            while not (body[i] in quotes and (i + 1 == len(body) or body[i + 1] not in quotes)):
                if body[i] in quotes:  # a doubled quote: keep the second
                    i += 1
                out.append(body[i])
                i += 1
            i += 1
        if body.startswith(" + ", i):
            i += 3
    return "".join(out)


# --- cmd: golden tests of its quoting rules -------------------------------------------------
# `set "NAME=value"`: inside the quotes ^ & | < > ( ) are plain text and set ignores what
# follows the closing quote. % (expanded even inside quotes, with different escaping in batch
# files and at the prompt), ! (delayed expansion), " (ends the quoting), control characters
# (a statement must be one line) and non-ASCII (OEM code page) are refused.


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", 'set "V=abc"'),
        ("a^b&c|d<e>f(g)", 'set "V=a^b&c|d<e>f(g)"'),
        ("x=y;z,'`~#@$", 'set "V=x=y;z,\'`~#@$"'),
        ("trailing space ", 'set "V=trailing space "'),
        ("", 'set "V="'),  # cmd has no empty variables: this unsets V
    ],
)
def test_cmd_golden(value: str, expected: str) -> None:
    assert one(value, "cmd") == expected + "\n"


@pytest.mark.parametrize(
    "value",
    ["50%", "%PATH%", "hi!", "!x!", 'a"&calc&"', "a\nb", "a\rb", "a\tb", "a\x1ab", "é", "’"],
)
def test_cmd_refuses_what_it_cannot_carry(value: str) -> None:
    with pytest.raises(ConfigError, match="cannot be exported for cmd") as caught:
        one(SECRET + value, "cmd")
    assert SECRET not in str(caught.value)
    assert caught.value.hint


# --- dotenv ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "V='abc'"),
        ("", "V=''"),
        ('say "hi" $HOME `id` #x', "V='say \"hi\" $HOME `id` #x'"),  # single quotes: literal
        ("it's", 'V="it\'s"'),
        ("a\\b", 'V="a\\\\b"'),  # a backslash forces double quotes (python-dotenv)
        ("a\nb\r", 'V="a\\nb\\r"'),
        ('it\'s $HOME `id` "q"', 'V="it\'s \\$HOME \\`id\\` \\"q\\""'),
    ],
)
def test_dotenv_golden(value: str, expected: str) -> None:
    assert one(value, "dotenv") == expected + "\n"


def _parse_dotenv_line(line: str) -> tuple[str, str]:
    """The documented grammar: single quotes literal; double quotes with backslash escapes
    (\\n and \\r are line breaks, \\X is X), as in ruby dotenv, godotenv and docker compose."""
    match = re.fullmatch(
        r"([A-Za-z_][A-Za-z0-9_]*)=(?:'([^'\n\r]*)'|\"((?:\\.|[^\"\\])*)\")\n", line, re.DOTALL
    )
    assert match, line
    if match[2] is not None:
        return match[1], match[2]
    unescape = {"n": "\n", "r": "\r"}
    return match[1], re.sub(r"\\(.)", lambda m: unescape.get(m[1], m[1]), match[3], flags=re.S)


@given(env_values)
def test_dotenv_round_trips(value: str) -> None:
    assert _parse_dotenv_line(one(value, "dotenv")) == ("V", value)


# --- gitlab ------------------------------------------------------------------------------------


def _parse_gitlab_line(line: str) -> tuple[str, str]:
    """GitLab's parser: /^(.*?)=(.*)$/ on each line, both parts stripped, no unquoting."""
    match = re.match(r"^(.*?)=(.*)$", line.removesuffix("\n"))
    assert match
    return match[1].strip(" \t\n\v\f\r\0"), match[2].strip(" \t\n\v\f\r\0")


@pytest.mark.parametrize(
    "value", ["abc", "", "a=b==", "'quoted'", '"dq"', "#not-a-comment", "é€", "x';id;'"]
)
def test_gitlab_golden_values_are_literal(value: str) -> None:
    line = one(value, "gitlab")
    assert line == f"V={value}\n"
    assert _parse_gitlab_line(line) == ("V", value)


@pytest.mark.parametrize(
    "value", ["a b", "a\tb", "a\nb", "a\rb", " lead", "trail ", "\u00a0", "a\x7fb", "$CI", "a$b"]
)
def test_gitlab_refuses_what_it_would_alter(value: str) -> None:
    with pytest.raises(ConfigError, match="cannot be exported for gitlab") as caught:
        one(SECRET + value, "gitlab")
    assert SECRET not in str(caught.value)


@given(env_values)
def test_gitlab_output_parses_back_or_is_refused(value: str) -> None:
    try:
        line = one(value, "gitlab")
    except ConfigError:
        assert any(c.isspace() or c == "$" or ord(c) < 32 or 127 <= ord(c) < 160 for c in value)
        return
    assert line.count("\n") == 1
    assert _parse_gitlab_line(line) == ("V", value)


# --- json --------------------------------------------------------------------------------------


@given(st.lists(env_values, max_size=4))
def test_json_is_one_ascii_line_that_round_trips(values: list[str]) -> None:
    variables = [var(f"V{i}", v) for i, v in enumerate(values)]
    text = render(variables, "json")
    if not values:
        assert text == ""
        return
    assert text.endswith("\n") and text.count("\n") == 1 and text.isascii()
    assert json.loads(text) == {f"V{i}": v for i, v in enumerate(values)}


def test_json_golden() -> None:
    text = render([var("A", 'x"\\\n’'), var("B", "Bearer", secret=False)], "json")
    assert text == '{"A": "x\\"\\\\\\n\\u2019", "B": "Bearer"}\n'


# --- github: masks on stdout, variables into $GITHUB_ENV ----------------------------------------


def test_github_stdout_is_only_masks_for_secrets() -> None:
    variables = [
        var("ACCESS_TOKEN", "tok%en"),
        var("TOKEN_TYPE", "Bearer", secret=False),
        var("ID_TOKEN", "id.jwt"),
    ]
    assert render(variables, "github") == "::add-mask::tok%25en\n::add-mask::id.jwt\n"


def test_github_stdout_without_secrets_is_empty() -> None:
    assert render([var("TOKEN_TYPE", "Bearer", secret=False)], "github") == ""


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["plain"], "::add-mask::plain\n"),
        (["100%"], "::add-mask::100%25\n"),
        (["%0A"], "::add-mask::%250A\n"),  # escaping % first keeps a literal %0A literal
        (["a\nb"], "::add-mask::a%0Ab\n::add-mask::a\n::add-mask::b\n"),
        (["a\r\nb\rc"], "::add-mask::a%0D%0Ab%0Dc\n::add-mask::a\n::add-mask::b\n::add-mask::c\n"),
        (["x\n\n \ny\n"], "::add-mask::x%0A%0A %0Ay%0A\n::add-mask::x\n::add-mask::y\n"),
        (["", "   ", "\n"], ""),  # the runner refuses blank masks
        (["dup", "dup\nz"], "::add-mask::dup\n::add-mask::dup%0Az\n::add-mask::z\n"),
    ],
)
def test_mask_lines(values: list[str], expected: str) -> None:
    assert mask_lines(values) == expected


@given(st.lists(env_values, max_size=3))
def test_every_mask_command_is_one_line_and_unescapes_to_a_value_or_line(
    values: list[str],
) -> None:
    wanted = set(values) | {line for v in values for line in re.split(r"\r\n|\r|\n", v)}
    # The runner reads a step's output in lines ending at LF (CRLF, CR), nothing else.
    for line in mask_lines(values).split("\n")[:-1]:
        assert line.startswith("::add-mask::")
        data = line.removeprefix("::add-mask::")
        assert "\n" not in data and "\r" not in data
        unescaped = data.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
        assert unescaped in wanted and unescaped.strip()


def parse_github_env(text: str) -> dict[str, str]:
    """GitHub's documented GITHUB_ENV grammar, as the runner reads it on Linux.

    Lines end at LF; empty lines are skipped; ``NAME=value`` when ``=`` comes before any
    ``<<``; ``NAME<<DELIMITER`` otherwise, the value being every line up to the first line
    equal to DELIMITER, joined with LF.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    result: dict[str, str] = {}
    it: Iterator[str] = iter(lines)
    for line in it:
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            name, value = line.split("=", 1)
        else:
            assert heredoc > 0, f"invalid line {line!r}"
            name, delimiter = line.split("<<", 1)
            assert delimiter, "empty delimiter"
            body = []
            for body_line in it:
                if body_line == delimiter:
                    break
                body.append(body_line)
            else:
                raise AssertionError(f"delimiter {delimiter!r} not found")
            value = "\n".join(body)
        result[name] = value
    return result


def test_github_env_parser_reads_both_forms() -> None:
    text = "A=1\n\nB=x<<y\nC<<EOF\nline1\n\nline3=x\nEOF\nD<<EOF\nEOF\nE=\n"
    assert parse_github_env(text) == {
        "A": "1",
        "B": "x<<y",
        "C": "line1\n\nline3=x",
        "D": "",
        "E": "",
    }


def counter_factory(*tokens: str) -> Callable[[int], str]:
    pending = list(tokens)

    def factory(nbytes: int) -> str:
        assert nbytes >= 16
        return pending.pop(0)

    return factory


def test_github_env_block_golden() -> None:
    block = github_env_block(
        [var("ACCESS_TOKEN", "abc"), var("TOKEN_TYPE", "Bearer", secret=False)],
        token_factory=counter_factory("0a", "1b"),
    )
    assert block == (
        "ACCESS_TOKEN<<ghadelimiter_0a\nabc\nghadelimiter_0a\n"
        "TOKEN_TYPE<<ghadelimiter_1b\nBearer\nghadelimiter_1b\n"
    )


def test_github_env_block_default_delimiter_is_random_hex() -> None:
    block = github_env_block([var(value="x")])
    match = re.fullmatch(r"ACCESS_TOKEN<<(ghadelimiter_[0-9a-f]{32})\nx\n\1\n", block)
    assert match


@pytest.mark.parametrize(
    "value",
    [
        "before\nghadelimiter_aaaa\nINJECTED=1",  # a line equal to the delimiter
        "ghadelimiter_aaaa",  # the whole value
        "xghadelimiter_aaaay",  # anywhere: CRLF splitting on Windows must not matter either
        "ghadelimiter_aaaa\r\nINJECTED=1",
    ],
)
def test_colliding_delimiter_is_redrawn(value: str) -> None:
    block = github_env_block([var(value=value)], token_factory=counter_factory("aaaa", "bbbb"))
    assert block.startswith("ACCESS_TOKEN<<ghadelimiter_bbbb\n")
    assert parse_github_env(block) == {"ACCESS_TOKEN": value}


def test_malformed_token_is_redrawn() -> None:
    block = github_env_block([var(value="v")], token_factory=counter_factory("x\ny", "ok"))
    assert block == "ACCESS_TOKEN<<ghadelimiter_ok\nv\nghadelimiter_ok\n"


def test_a_factory_that_always_collides_gives_up_with_an_error() -> None:
    with pytest.raises(ConfigError, match="delimiter for ACCESS_TOKEN") as caught:
        github_env_block([var(value="ghadelimiter_same")], token_factory=lambda n: "same")
    assert "ghadelimiter_same" not in str(caught.value)


@given(st.lists(env_values, max_size=4))
def test_github_env_block_round_trips(values: list[str]) -> None:
    variables = [var(f"V{i}", v) for i, v in enumerate(values)]
    assert parse_github_env(github_env_block(variables)) == {
        f"V{i}": v for i, v in enumerate(values)
    }


@settings(max_examples=30)
@given(
    st.lists(st.sampled_from(["ghadelimiter_aa", "ghadelimiter_bb", "\n", "x", "\r"]), max_size=8)
)
def test_github_env_block_round_trips_with_adversarial_delimiters(parts: list[str]) -> None:
    value = "".join(parts)
    factory = counter_factory("aa", "bb", "cc")
    assert parse_github_env(github_env_block([var(value=value)], factory)) == {
        "ACCESS_TOKEN": value
    }


def test_github_env_block_validates() -> None:
    with pytest.raises(ConfigError):
        github_env_block([var("A<<B")])
    with pytest.raises(ConfigError, match="NUL"):
        github_env_block([var(value="a\0b")])


def test_append_github_env_appends_to_existing_file(tmp_path: Path) -> None:
    env_file = tmp_path / "github_env"
    env_file.write_bytes(b"EARLIER=1\n")
    append_github_env([var(value="line1\nline2\r\n’")], env_file)
    append_github_env([var("TOKEN_TYPE", "Bearer", secret=False)], str(env_file))
    text = env_file.read_bytes().decode("utf-8")
    assert parse_github_env(text) == {
        "EARLIER": "1",
        "ACCESS_TOKEN": "line1\nline2\r\n’",
        "TOKEN_TYPE": "Bearer",
    }


def test_append_github_env_repairs_a_missing_final_newline(tmp_path: Path) -> None:
    env_file = tmp_path / "github_env"
    env_file.write_bytes(b"EARLIER=1")  # e.g. `echo -n EARLIER=1 >> $GITHUB_ENV`
    append_github_env([var(value="v")], env_file)
    text = env_file.read_text(encoding="utf-8")
    assert text.startswith("EARLIER=1\nACCESS_TOKEN<<ghadelimiter_")
    assert parse_github_env(text) == {"EARLIER": "1", "ACCESS_TOKEN": "v"}


def test_append_github_env_creates_the_file_and_skips_empty_lists(tmp_path: Path) -> None:
    env_file = tmp_path / "github_env"
    append_github_env([], env_file)
    assert not env_file.exists()
    append_github_env([var(value="v")], env_file)
    assert parse_github_env(env_file.read_text(encoding="utf-8")) == {"ACCESS_TOKEN": "v"}


# --- module hygiene (STYLE: core modules never print, exit or import typer/rich) -----------------


def test_export_imports_no_ui_libraries() -> None:
    code = (
        "import sys, oauthcli.export; "
        "print(sorted(m for m in ('typer', 'rich', 'requests') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_export_source_never_prints_or_exits() -> None:
    source = Path(__file__).parents[1].joinpath("oauthcli", "export", "shells.py").read_text()
    assert not re.search(r"\bprint\(|sys\.exit|\bexit\(", source)
