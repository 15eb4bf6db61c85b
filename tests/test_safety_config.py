"""Issue 11, the profiles file and its references (SPEC §13): duplicate keys, bounds on every
input, and trust of an implicit ./oauthcli.yaml.

Each case is tried the way a hostile repository or an unlucky CI job would: exit code, one
`error:` line on stderr, nothing on stdout, no planted secret anywhere, and never a hang (the
console-script runs have a timeout) or an exit 70.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PLANTED, Result, assert_clean_failure, run, run_script
from tests.server import LoopbackServer, Response

CACHE = ".profiles-cache.json"
TRUST_FILE = ".trusted.json"


def state_dir() -> Path:
    return Path(os.environ["OAUTHCLI_STATE_DIR"])


def trust_dir() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "oauthcli"


def profile_text(url: str = "https://127.0.0.1:9/token", **extra: Any) -> str:
    spec = {"token_url": url, "retries": 0, "body": {"grant_type": "refresh_token",
            "refresh_token": "${refresh_token}", "client_secret": PLANTED},
            "refresh_token": "rt-initial-0001", **extra}  # fmt: skip
    return yaml.safe_dump({"profiles": {"p": spec}}, sort_keys=False)


def without_env_guard(command: tuple[str, ...], result: Result) -> Result:
    """`env` prints a failing statement on stdout when it fails (SPEC §13); nothing else."""
    if command[0] != "env":
        return result
    assert result.stdout == "false\n", result
    return Result(result.code, "", result.stderr)


def token_server(server: LoopbackServer) -> LoopbackServer:
    server.reply("/token", Response(200, {"access_token": "at-from-server", "expires_in": 600}))
    return server


# --- duplicate keys: exit 3 with file:line, for every command ---------------------------------

DUPLICATE_PROFILE = f"""\
profiles:
  p:
    token_url: https://a.example/token
    body: {{client_secret: {PLANTED}}}
  p:
    token_url: https://b.example/token
"""
COMMANDS = [
    ("refresh", "p"), ("token", "p"), ("env", "p"), ("exec", "p", "--", "true"),
    ("validate", "p"), ("show", "p"), ("list",), ("check",), ("forget", "p", "--yes"),
    ("refresh", "p", "--dry-run"), ("trust",),
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_two_profiles_with_one_name_are_refused_by_every_command(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(DUPLICATE_PROFILE)
    args = ("-c", str(path), *command) if command != ("trust",) else ("trust", str(path))
    result = without_env_guard(command, run(*args))
    assert_clean_failure(result, 3, f"{path}:5:3", "duplicate key 'p'", "first at line 2")


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        (
            "profiles:\n  p:\n    token_url: https://x/t\n    token_url: https://y/t\n",
            4,
            "token_url",
        ),
        (
            "defaults:\n  timeout: 5\n  timeout: 50\nprofiles:\n  p: {token_url: https://x/t}\n",
            3,
            "timeout",
        ),
        (
            "profiles:\n  p:\n    token_url: https://x/t\n    body:\n      a: 1\n      a: 2\n",
            6,
            "a",
        ),
        ("profiles: {p: {token_url: https://x/t, 'token_url': https://y/t}}\n", 1, "token_url"),
        (
            'profiles:\n  p:\n    token_url: https://x/t\n    headers:\n      X: a\n      "X": b\n',
            6,
            "X",
        ),
        (
            "profiles:\n  p:\n    token_url: https://x/t\n    validate:\n      probe: {url: x}\n"
            "      probe: {url: y}\n",
            6,
            "probe",
        ),
        ("defaults: {}\nprofiles: {}\ndefaults: {timeout: 1}\n", 3, "defaults"),
    ],
    ids=["in-profile", "in-defaults", "in-body", "quoted-flow", "header", "nested", "top-level"],
)
def test_a_key_twice_in_any_mapping_is_refused_with_its_line(
    tmp_path: Path, text: str, line: int, key: str
) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    for command in (("refresh", "p"), ("check",)):
        result = run("-c", str(path), *command)
        assert_clean_failure(result, 3, f"{path}:{line}:", f"duplicate key {key!r}")


def test_merge_keys_still_override_without_being_duplicates(
    tmp_path: Path, server: LoopbackServer
) -> None:
    token_server(server)
    path = tmp_path / "merge.yaml"
    path.write_text(f"common: &common {{token_url: https://unused.example/t, retries: 0}}\n"
                    f"defaults: {{}}\n"
                    f"profiles:\n  p:\n    <<: *common\n    token_url: {server.url('/token')}\n")  # fmt: skip
    result = run("-c", str(path), "check")
    assert "duplicate" not in result.stdout + result.stderr
    assert "unknown top-level key 'common'" in result.stdout  # what check says about the anchor
    path.write_text(path.read_text().replace("common: &common", "defaults: &common").replace(
        "defaults: {}\n", ""))  # fmt: skip
    assert run("-c", str(path), "refresh", "p").stdout == "at-from-server\n"


def test_a_file_with_duplicates_is_never_cached_and_is_refused_on_every_run(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(DUPLICATE_PROFILE)
    for _ in range(2):  # the console script: the parsed copy would be used on the second run
        assert_clean_failure(run_script("-c", str(path), "token", "p"), 3, "duplicate key 'p'")
    assert not (state_dir() / CACHE).exists()


def test_a_cached_copy_from_before_duplicates_were_checked_is_not_used(
    tmp_path: Path, server: LoopbackServer
) -> None:
    """An older oauthcli cached the last-one-wins reading; its key lacks the format number."""
    token_server(server)
    path = tmp_path / "dup.yaml"
    path.write_text(f"profiles:\n  p: {{token_url: https://evil.example/t}}\n"
                    f"  p: {{token_url: '{server.url('/token')}', retries: 0}}\n")  # fmt: skip
    info = path.stat()
    old_key = [str(path.resolve()), info.st_mtime_ns, info.st_size, info.st_ino]
    data = {"profiles": {"p": {"token_url": server.url("/token"), "retries": 0}}}
    state_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    (state_dir() / CACHE).write_text(json.dumps({"key": old_key, "data": data}))
    assert_clean_failure(run_script("-c", str(path), "refresh", "p"), 3, "duplicate key 'p'")
    assert server.hits("/token") == []


def test_only_a_file_that_parsed_and_passed_the_top_level_checks_is_cached(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("profils: {}\n")
    assert_clean_failure(run_script("-c", str(path), "list"), 3, "unknown top-level key")
    assert not (state_dir() / CACHE).exists()
    path.write_text("profiles:\n  p: {token_url: https://x.example/t}\n")
    assert run_script("-c", str(path), "list").code == 0
    cached = json.loads((state_dir() / CACHE).read_text())
    assert cached["data"] == {"profiles": {"p": {"token_url": "https://x.example/t"}}}


# --- bounds: the profiles file ------------------------------------------------------------------

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
) + "profiles: {}\n"  # fmt: skip
MERGE_LAUGHS = "m0: &m0 {k: 1}\n" + "".join(
    f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}\n" for i in range(1, 9)
) + "profiles: {}\n"  # fmt: skip
DEEP = "profiles: " + "[" * 5000 + "]" * 5000 + "\n"
ALIAS_CHAIN = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 80))


HOSTILE = {  # id → (profiles file, what the error says)
    "billion-laughs": (LAUGHS, "expands to more than"),
    "merge-laughs": (MERGE_LAUGHS, "expands to more than"),
    "recursive-list": ("a: &a [*a]\nprofiles: {}\n", "recursive"),
    "recursive-map": ("a: &a {b: *a}\nprofiles: {}\n", "recursive"),
    "deep": (DEEP, "nest"),
    "alias-chain": (ALIAS_CHAIN, "levels deep"),
    "undefined-alias": ("profiles: *nowhere\n", "undefined alias"),
    "two-documents": ("a: 1\n---\nb: 2\n", "one YAML document"),
    "bad-date": ("profiles:\n  p:\n    description: 2024-13-45\n", "cannot be read"),
    "huge-int": ("profiles:\n  p:\n    description: " + "9" * 5000 + "\n", "cannot be read"),
    "int-key": ("profiles:\n  p:\n    1: x\n", "not a string (YAML read it as int)"),
    "bool-key": ("profiles:\n  p:\n    token_url: https://x/t\n    on: x\n", "as bool"),
    "python-tag": ("profiles:\n  p: !!python/object/apply:os.system [true]\n", "constructor"),
    "nul": ("profiles:\n  p:\n    token_url: \x00\n", "YAML"),
    "list": ("- a\n- b\n", "top level must be a mapping"),
    "tab-indent": ("profiles:\n\tp: {}\n", "YAML syntax error"),
    "profiles-a-list": ("profiles: [a, b]\n", "'profiles' must be a mapping"),
}  # fmt: skip


@pytest.mark.parametrize(("text", "fragment"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_yaml_is_a_one_line_configuration_error(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    for command in (("refresh", "p"), ("check",), ("list",)):
        result = run_script("-c", str(path), *command, timeout=30)
        assert_clean_failure(result, 3, str(path), fragment)


def test_a_profiles_file_over_1_mib_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("profiles: {}\n# " + "x" * (1 << 20) + "\n")
    assert_clean_failure(run("-c", str(path), "list"), 3, "larger than 1 MiB")
    text = "profiles: {}\n# " + "x" * (1 << 20) + "\n"
    assert_clean_failure(run("-c", "-", "list", stdin=text), 3, "standard input",
                         "larger than 1 MiB")  # fmt: skip


def test_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("profiles:\n  p: {description: caf\xe9}\n".encode("latin-1"))
    assert_clean_failure(run("-c", str(path), "list"), 3, "not UTF-8")


def _special(tmp_path: Path, kind: str) -> Path:
    if kind == "fifo":
        path = tmp_path / "fifo.yaml"
        os.mkfifo(path)
        return path
    if kind == "directory":
        path = tmp_path / "dir.yaml"
        path.mkdir()
        return path
    if kind == "symlink-to-fifo":
        target = _special(tmp_path, "fifo")
        link = tmp_path / "link.yaml"
        link.symlink_to(target)
        return link
    return Path("/dev/zero")


SPECIAL = ["fifo", "directory", "device", "symlink-to-fifo"]
KIND_TEXT = {"fifo": "FIFO", "directory": "directory", "device": "character device",
             "symlink-to-fifo": "FIFO"}  # fmt: skip


@pytest.mark.parametrize("kind", SPECIAL)
def test_a_non_regular_profiles_file_is_refused_without_hanging(tmp_path: Path, kind: str) -> None:
    path = _special(tmp_path, kind)
    for args in (("-c", str(path), "token", "p"), ("-c", str(path), "check")):
        result = run_script(*args, timeout=20)
        assert_clean_failure(result, 3, "not a regular file", KIND_TEXT[kind])
    env_result = run_script("list", env={"OAUTHCLI_CONFIG": str(path)}, timeout=20)
    assert_clean_failure(env_result, 3, KIND_TEXT[kind])


def test_a_fifo_named_oauthcli_yaml_in_the_current_directory_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "oauthcli.yaml")  # found (not skipped for the user's file) and refused
    assert_clean_failure(run_script("list", timeout=20), 3, "FIFO")
    assert_clean_failure(run_script("trust", timeout=20), 3, "FIFO")


# --- bounds: ${file:} and ${cmd:} --------------------------------------------------------------


def _refresh_with(tmp_path: Path, value: str, **extra: Any) -> Result:
    path = tmp_path / "refs.yaml"
    path.write_text(profile_text(extra.pop("url", "https://127.0.0.1:9/token"),
                                 headers={"X-Secret": value}, **extra))  # fmt: skip
    return run_script("-c", str(path), "refresh", "p", "--dry-run", timeout=30)


@pytest.mark.parametrize("kind", SPECIAL)
def test_file_reference_to_a_non_regular_file_is_refused_without_opening_it(
    tmp_path: Path, kind: str
) -> None:
    path = _special(tmp_path, kind)
    result = _refresh_with(tmp_path, f"${{file:{path}}}")
    assert_clean_failure(result, 3, "profile 'p', field headers.X-Secret", "cannot read ${file:",
                         KIND_TEXT[kind])  # fmt: skip


def test_file_reference_over_1_mib_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * ((1 << 20) + 1))
    assert_clean_failure(_refresh_with(tmp_path, f"${{file:{big}}}"), 3, "larger than 1 MiB")
    (tmp_path / "ok.txt").write_text("header-value\n")
    done = _refresh_with(tmp_path, f"${{file:{tmp_path / 'ok.txt'}}}")
    assert done.code == 0, done


def _python(code: str, tmp_path: Path, name: str = "cmd.py") -> str:
    script = tmp_path / name
    script.write_text(code)
    return f"${{cmd:{sys.executable} {script}}}"


def test_cmd_output_over_1_mib_kills_the_command(tmp_path: Path) -> None:
    endless = _python("import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n", tmp_path)
    result = _refresh_with(tmp_path, endless)
    assert_clean_failure(result, 3, "${cmd:…} printed more than 1 MiB", "it was killed")


def test_cmd_is_killed_at_the_profiles_timeout(tmp_path: Path) -> None:
    silent = _python("import time\ntime.sleep(60)\n", tmp_path)
    result = _refresh_with(tmp_path, silent, timeout=1)  # run_script's own timeout is 30 s
    assert_clean_failure(result, 3, "did not finish within 1s", "the profile's timeout")


def test_cmd_that_closes_its_output_but_keeps_running_is_killed_too(tmp_path: Path) -> None:
    lingering = _python("import os, time\nprint('x', flush=True)\nos.close(1)\ntime.sleep(60)\n",
                        tmp_path)  # fmt: skip
    assert_clean_failure(_refresh_with(tmp_path, lingering, timeout=1), 3, "within 1s")


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "killed by signal 9"),
        ("import sys\nsys.stdout.buffer.write(b'\\xff\\xfe')\n", "not UTF-8"),
        ("import sys\nsys.exit(4)\n", "exited with status 4"),
    ],
    ids=["signal", "binary", "status"],
)
def test_cmd_failures_are_configuration_errors(tmp_path: Path, code: str, fragment: str) -> None:
    assert_clean_failure(_refresh_with(tmp_path, _python(code, tmp_path)), 3, fragment)


@pytest.mark.parametrize("command", ["no-such-command-x1", "'unbalanced"], ids=["missing", "quote"])
def test_cmd_that_cannot_run_is_a_configuration_error(tmp_path: Path, command: str) -> None:
    assert_clean_failure(_refresh_with(tmp_path, f"${{cmd:{command}}}"), 3, "could not run")


def test_cmd_never_reads_the_stdin_meant_for_execs_command(
    tmp_path: Path, server: LoopbackServer
) -> None:
    token_server(server)
    seen = tmp_path / "cmd-saw.txt"
    reader = _python(f"import sys\nopen({str(seen)!r}, 'w').write(sys.stdin.read())\n"
                     "print('secret-from-cmd')\n", tmp_path)  # fmt: skip
    path = tmp_path / "exec.yaml"
    path.write_text(profile_text(server.url("/token"), headers={"X-Secret": reader}))
    echo = [sys.executable, "-c", "import sys; print('COMMAND got ' + sys.stdin.read().strip())"]
    result = run_script("-c", str(path), "exec", "p", "--", *echo, stdin="for the command\n")
    assert (result.code, result.stdout) == (0, "COMMAND got for the command\n"), result
    assert seen.read_text() == ""
    assert server.hits("/token")[0].headers["x-secret"] == "secret-from-cmd"


@pytest.mark.parametrize("field", ["verify", "cert"])
@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_verify_and_cert_paths_that_are_not_regular_files_are_refused(
    tmp_path: Path, field: str, kind: str
) -> None:
    path = _special(tmp_path, kind)
    profiles = tmp_path / "tls.yaml"
    profiles.write_text(profile_text(**{field: str(path)}))
    result = run_script("-c", str(profiles), "refresh", "p", timeout=20)
    assert_clean_failure(result, 3, f"field {field}")


# --- trust of ./oauthcli.yaml -----------------------------------------------------------------


@pytest.fixture
def local_file(tmp_path: Path, server: LoopbackServer) -> Path:
    """A ./oauthcli.yaml, as a cloned repository brings it; its ${cmd:} leaves a marker."""
    token_server(server)
    marker = tmp_path / "cmd-ran"
    command = f"${{cmd:{sys.executable} -c \"open('{marker}', 'w'); print('cmd-value')\"}}"
    path = tmp_path / "oauthcli.yaml"
    path.write_text(profile_text(server.url("/token"), headers={"X-From-Cmd": command}))
    return path


def assert_untrusted(result: Result, changed: bool = False) -> None:
    what = "changed since it was trusted" if changed else "is not trusted"
    assert_clean_failure(result, 3, what, "`oauthcli trust`")


@pytest.mark.parametrize("command", [("token", "p"), ("refresh", "p"), ("env", "p"),
                                     ("show", "p"), ("list",), ("check",), ("validate", "p"),
                                     ("refresh", "p", "--dry-run")],
                         ids=lambda c: " ".join(c))  # fmt: skip
def test_an_untrusted_local_file_is_not_used_at_all(
    local_file: Path, server: LoopbackServer, command: tuple[str, ...]
) -> None:
    assert_untrusted(without_env_guard(command, run(*command)))
    assert server.hits("/token") == []
    assert not (local_file.parent / "cmd-ran").exists()


def test_the_console_script_fast_path_refuses_it_too(
    local_file: Path, server: LoopbackServer
) -> None:
    assert_untrusted(run_script("token", "p"))
    assert server.hits("/token") == [] and not (local_file.parent / "cmd-ran").exists()


def test_trust_records_the_hash_then_the_file_is_used(
    local_file: Path, server: LoopbackServer
) -> None:
    result = run("trust")
    assert result.code == 0 and result.stdout == "", result
    assert f"trusted {local_file}" in result.stderr and "it runs:" in result.stderr
    record = trust_dir() / TRUST_FILE
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert stat.S_IMODE(trust_dir().stat().st_mode) == 0o700
    assert not (state_dir() / TRUST_FILE).exists()  # not in a state dir a project may choose
    entry = json.loads(record.read_text())["files"][str(local_file)]
    assert len(entry["sha256"]) == 64
    assert run_script("token", "p").stdout == "at-from-server\n"
    assert run_script("token", "p").stdout == "at-from-server\n"  # through the parsed copy
    assert (local_file.parent / "cmd-ran").exists()


def test_a_changed_file_needs_trust_again(local_file: Path, server: LoopbackServer) -> None:
    assert run("trust").code == 0
    assert run_script("token", "p").code == 0  # now cached too
    local_file.write_text(local_file.read_text().replace("127.0.0.1", "localhost"))
    assert_untrusted(run_script("token", "p", "--force"), changed=True)
    assert_untrusted(run("list"), changed=True)
    assert len(server.hits("/token")) == 1
    assert run("trust").code == 0
    assert run_script("refresh", "p").code == 0


def test_a_change_with_its_mtime_put_back_is_still_seen(local_file: Path) -> None:
    assert run("trust").code == 0
    assert run_script("list").code == 0  # cached
    before = local_file.stat()
    text = local_file.read_text()
    local_file.write_text(text.replace("rt-initial-0001", "rt-initial-0002"))  # same size
    os.utime(local_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert_untrusted(run_script("list"), changed=True)


def test_the_same_content_rewritten_stays_trusted(local_file: Path) -> None:
    assert run("trust").code == 0
    local_file.write_text(local_file.read_text())  # new mtime and ctime, same bytes
    assert run("list").code == 0


def test_trust_is_for_one_path_not_for_a_copy(local_file: Path, tmp_path: Path) -> None:
    assert run("trust").code == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "oauthcli.yaml").write_text(local_file.read_text())
    os.chdir(other)
    assert_untrusted(run("list"))


def test_trust_takes_a_path_and_untrust_forgets(local_file: Path, tmp_path: Path) -> None:
    sub = tmp_path / "project"
    sub.mkdir()
    (sub / "oauthcli.yaml").write_text(local_file.read_text())
    assert run("trust", str(sub / "oauthcli.yaml")).code == 0
    os.chdir(sub)
    assert run("list").code == 0
    result = run("trust", "--untrust")
    assert result.code == 0 and "no longer trusted" in result.stderr
    assert_untrusted(run("list"))


def test_explicit_files_need_no_trust(local_file: Path) -> None:
    assert run("-c", str(local_file), "list").code == 0
    assert run("-c", "oauthcli.yaml", "list").code == 0
    assert run_script("list", env={"OAUTHCLI_CONFIG": "oauthcli.yaml"}).code == 0
    assert run("-c", "-", "list", stdin=local_file.read_text()).code == 0


def test_trust_refuses_a_file_that_cannot_be_used(tmp_path: Path) -> None:
    (tmp_path / "oauthcli.yaml").write_text(DUPLICATE_PROFILE)
    assert_clean_failure(run("trust"), 3, "duplicate key 'p'")
    assert not (trust_dir() / TRUST_FILE).exists()
    assert_clean_failure(run("trust", "nope.yaml"), 3, "profiles file not found")


def test_trust_records_in_a_directory_others_can_write_are_refused(local_file: Path) -> None:
    assert run("trust").code == 0
    trust_dir().chmod(0o777)
    try:
        assert_clean_failure(run("list"), 3, "writable by other users")
    finally:
        trust_dir().chmod(0o700)


def test_corrupt_or_planted_trust_records_trust_nothing(local_file: Path) -> None:
    trust_dir().mkdir(parents=True, mode=0o700)
    (trust_dir() / TRUST_FILE).write_text("{not json")
    assert_clean_failure(run("list"), 3, "not valid JSON")
    record = {"files": {str(local_file): {"sha256": "0" * 64, "stat": [0, 0, 0, 0, 0]}}}
    (trust_dir() / TRUST_FILE).write_text(json.dumps(record))
    assert_untrusted(run("list"), changed=True)
    (trust_dir() / TRUST_FILE).unlink()
    os.mkfifo(trust_dir() / TRUST_FILE)
    assert_clean_failure(run_script("list", timeout=20), 3, "not a regular file")


def test_the_users_own_config_file_needs_no_trust(tmp_path: Path) -> None:
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "oauthcli" / "profiles.yaml"
    user.parent.mkdir(parents=True)
    user.write_text(profile_text())
    assert run("list").code == 0


@pytest.mark.slow
def test_concurrent_trust_keeps_every_record(tmp_path: Path) -> None:
    """24 `oauthcli trust` at once, each for its own file: every record survives (they
    read, change and write the records under one lock; without it about 10 were lost)."""
    import subprocess

    from tests.conftest import SCRIPT

    files = []
    for i in range(24):
        (tmp_path / f"repo{i}").mkdir()
        files.append(tmp_path / f"repo{i}" / "oauthcli.yaml")
        files[-1].write_text(profile_text())
    running = [subprocess.Popen([SCRIPT, "trust", str(f)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for f in files]  # fmt: skip
    outcomes = [(p.wait(timeout=60), p.stdout.read() if p.stdout else "") for p in running]
    assert outcomes == [(0, "")] * len(files)
    records = json.loads((trust_dir() / TRUST_FILE).read_text())["files"]
    assert sorted(records) == sorted(str(f) for f in files)
    assert stat.S_IMODE((trust_dir() / ".trusted.lock").stat().st_mode) == 0o600


@pytest.mark.slow
def test_trust_waits_for_the_lock_of_another(local_file: Path) -> None:
    """The order forced: the lock is held here while `oauthcli trust` runs; it writes only
    after the lock is released."""
    import fcntl
    import subprocess
    import time

    from tests.conftest import SCRIPT

    trust_dir().mkdir(parents=True, mode=0o700, exist_ok=True)
    fd = os.open(trust_dir() / ".trusted.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    waiting = subprocess.Popen([SCRIPT, "trust", str(local_file)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(0.5)
    try:
        assert waiting.poll() is None and not (trust_dir() / TRUST_FILE).exists()
    finally:
        os.close(fd)
    assert waiting.wait(timeout=30) == 0
    assert str(local_file) in json.loads((trust_dir() / TRUST_FILE).read_text())["files"]
