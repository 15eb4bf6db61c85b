"""Issue 11: the whole bad-input corpus through the installed console script; none exits 70.

Every case of tests/test_bad_input.py, tests/test_safety_config.py and
tests/test_safety_config_check.py that feeds the product a bad file, reference or answer is here
once more, as data: each runs in a directory of its own (its own cwd and state dir), in parallel,
with a timeout (a hang fails), and must give its exit code (SPEC §4), one `error:` line, a clean
stdout, no planted secret and no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import PLANTED, SCRIPT, Result
from tests.server import LoopbackServer, Response
from tests.test_safety_config import DUPLICATE_PROFILE, HOSTILE

Prepare = Callable[[Path], None]


@dataclass
class Case:
    name: str
    code: int
    args: tuple[str, ...] = ("-c", "p.yaml", "refresh", "p")
    profiles: str | dict[str, Any] | None = None  # written to p.yaml; "{server}" is filled in
    prepare: Prepare | None = None
    env: dict[str, str] = field(default_factory=dict)
    stdin: str = ""
    reply: Response | None = None  # what the loopback server answers at /<case name>


def spec(**settings: Any) -> dict[str, Any]:
    """A profile of `p` at this case's loopback path, with a planted client secret."""
    return {"profiles": {"p": {"token_url": "{server}", "retries": 0,
                               "refresh_token": "rt-initial-0001",
                               "body": {"grant_type": "refresh_token",
                                        "refresh_token": "${refresh_token}",
                                        "client_id": "cid", "client_secret": PLANTED},
                               **settings}}}  # fmt: skip


def fifo(name: str) -> Prepare:
    return lambda where: os.mkfifo(where / name)


def directory(name: str) -> Prepare:
    return lambda where: (where / name).mkdir()


def big(name: str) -> Prepare:
    return lambda where: (where / name).write_bytes(b"x" * ((1 << 20) + 1))


def script(code: str) -> str:
    return f'${{cmd:{sys.executable} -c "{code}"}}'


def trusted_then_changed(where: Path) -> None:
    run_case_script(where, ("trust",), {}, "")
    path = where / "oauthcli.yaml"
    path.write_text(path.read_text() + "# changed\n")


HTML = "<html><body>Sign in</body></html>"
SCHEMA = [
    {"timeout": "soon"}, {"headers": ["a"]}, {"retries": 99}, {"insecure": "yes"},
    {"method": "FETCH"}, {"auth": {"type": "digest", "client_id": "a", "client_secret": "b"}},
    {"tokn_url": "https://x"}, {"validate": {"probe": {"url": "https://x", "expect": 200}}},
    {"response": {"acess_token": "a"}}, {"validate": {"audience": 5}},
    {"validate": {"probe": {"url": "https://x", "expect_status": "ok"}}},
    {"validate": {"probe": "https://x"}}, {"body": 5}, {"cert": ["a"]}, {"grant": {"type": "x"}},
    {"auth": {"type": "private_key_jwt", "client_id": "c", "key": "not a key"}},
]  # fmt: skip
ANSWERS = [
    (Response(200, HTML, {"Content-Type": "text/html"}), 6),
    (Response(200, b""), 6),
    (Response(200, "{not json", {"Content-Type": "application/json"}), 6),
    (Response(200, {"token_type": "Bearer", "expires_in": 60}), 6),
    (Response(200, b"x" * (1024 * 1024 + 10), {"Content-Type": "application/json"}), 6),
    (Response(302, b"", {"Location": "https://evil.example/steal"}), 6),
    (Response(400, {"error": "invalid_grant", "error_description": "Token expired"}), 4),
    (Response(401, {"error": "invalid_client"}), 4),
    (Response(200, {"error": "bad_refresh_token", "error_description": "incorrect"}), 4),
    (Response(200, {"ok": False, "error": "invalid_refresh_token"}), 4),
    (Response(500, {"error": "server_error"}), 5),
    (Response(403, HTML, {"Content-Type": "text/html"}), 4),
    (Response(429, b"", {"Retry-After": "0"}), 5),
    (Response(503, b"", {"Retry-After": "3600"}), 5),
    (Response(400, {"error": "invalid_client", "error_description": f"bad secret {PLANTED}"}), 4),
    (Response(200, {"access_token": "late"}, delay=2.0), 5),  # timeout 0.5 s below
    (Response(200, b"\xff\xfe\x00garbage", {"Content-Type": "application/json"}), 6),
    (Response(200, {"access_token": ["not", "a", "string"]}), 6),
    (Response(200, {"access_token": {"nested": "object"}}), 6),
]  # fmt: skip

CASES: list[Case] = [
    # the profiles file
    Case("missing-file", 3, ("-c", "nope.yaml", "refresh", "p")),
    Case("yaml-syntax", 3, profiles=f"profiles:\n  p:\n    body: {{a: {PLANTED}\n"),
    Case("duplicate-profile", 3, profiles=DUPLICATE_PROFILE),
    Case("duplicate-in-check", 3, ("-c", "p.yaml", "check"), profiles=DUPLICATE_PROFILE),
    *[Case(f"hostile-{name}", 3, profiles=text) for name, (text, _) in HOSTILE.items()],
    *[Case(f"hostile-check-{name}", 3, ("-c", "p.yaml", "check"), profiles=text)
      for name, (text, _) in HOSTILE.items()],
    Case("over-1-mib", 3, ("-c", "big.yaml", "list"), prepare=big("big.yaml")),
    Case("stdin-over-1-mib", 3, ("-c", "-", "list"), stdin="#" * ((1 << 20) + 1)),
    Case("latin-1", 3, ("-c", "l.yaml", "list"),
         prepare=lambda w: (w / "l.yaml").write_bytes(b"profiles: {p: {description: caf\xe9}}")),
    Case("fifo-file", 3, ("-c", "f.yaml", "token", "p"), prepare=fifo("f.yaml")),
    Case("fifo-env", 3, ("list",), prepare=fifo("f.yaml"), env={"OAUTHCLI_CONFIG": "f.yaml"}),
    Case("fifo-local", 3, ("list",), prepare=fifo("oauthcli.yaml")),
    Case("fifo-trust", 3, ("trust",), prepare=fifo("oauthcli.yaml")),
    Case("directory-file", 3, ("-c", "d.yaml", "check"), prepare=directory("d.yaml")),
    Case("device-file", 3, ("-c", "/dev/zero", "list")),
    Case("profiles-not-mapping", 3, profiles="profiles: [a]\n"),
    Case("profile-not-mapping", 3, profiles="profiles: {p: text}\n"),
    Case("bad-profile-name", 3, profiles="profiles: {.hidden: {token_url: https://x/t}}\n"),
    Case("unknown-top-level", 3, profiles="profils: {}\n"),
    Case("store-not-url", 3, profiles="store: [1]\nprofiles: {}\n"),
    # the schema
    *[Case(f"schema-{i}", 3, profiles=spec(**settings)) for i, settings in enumerate(SCHEMA)],
    Case("missing-token-url", 3, profiles={"profiles": {"p": {"body": {"client_secret": PLANTED}}}}),
    Case("unknown-profile", 3, ("-c", "p.yaml", "refresh", "gogle"), profiles=spec()),
    Case("extends-cycle", 3, profiles={"profiles": {"p": {"extends": "q"}, "q": {"extends": "p"}}}),
    Case("extends-nowhere", 3, profiles={"profiles": {"p": {"extends": "q"}}}),
    Case("plain-http-remote", 3, profiles=spec(token_url="http://203.0.113.9/token")),
    # references
    Case("unset-env", 3, profiles=spec(headers={"X": "${env:OAUTHCLI_TEST_UNSET}"})),
    Case("bad-env-name", 3, profiles=spec(headers={"X": "${env:1BAD}"})),
    Case("unknown-reference", 3, profiles=spec(headers={"X": "${nope:thing}"})),
    Case("missing-file-ref", 3, profiles=spec(headers={"X": "${file:missing.txt}"})),
    Case("fifo-file-ref", 3, profiles=spec(headers={"X": "${file:fifo}"}), prepare=fifo("fifo")),
    Case("dir-file-ref", 3, profiles=spec(headers={"X": "${file:d}"}), prepare=directory("d")),
    Case("device-file-ref", 3, profiles=spec(headers={"X": "${file:/dev/zero}"})),
    Case("big-file-ref", 3, profiles=spec(headers={"X": "${file:b}"}), prepare=big("b")),
    Case("failing-cmd", 3, profiles=spec(headers={"X": "${cmd:sh -c 'echo " + PLANTED + "; exit 3'}"})),
    Case("missing-cmd", 3, profiles=spec(headers={"X": "${cmd:no-such-command-x1}"})),
    Case("unparseable-cmd", 3, profiles=spec(headers={"X": "${cmd:'open}"})),
    Case("endless-cmd", 3, profiles=spec(headers={"X": script("import sys\nwhile 1: sys.stdout.write('y'*65536)")})),
    Case("slow-cmd", 3, profiles=spec(timeout=1, headers={"X": script("import time; time.sleep(60)")})),
    Case("binary-cmd", 3, profiles=spec(headers={"X": script("import sys; sys.stdout.buffer.write(bytes([255]))")})),
    Case("github-oidc-outside-actions", 3,
         profiles=spec(auth={"type": "client_assertion", "client_id": "c",
                             "assertion": "${github_oidc:api://x}"})),
    Case("verify-fifo", 3, profiles=spec(verify="v.pem"), prepare=fifo("v.pem")),
    Case("cert-directory", 3, profiles=spec(cert="c.pem"), prepare=directory("c.pem")),
    # trust
    Case("untrusted-local", 3, ("token", "p"),
         prepare=lambda w: (w / "oauthcli.yaml").write_text(yaml.safe_dump(spec()))),
    Case("changed-local", 3, ("refresh", "p"),
         prepare=lambda w: ((w / "oauthcli.yaml").write_text(yaml.safe_dump(spec())),
                            trusted_then_changed(w))[-1]),
    Case("trust-missing", 3, ("trust", "nope.yaml")),
    # the provider's answer
    *[Case(f"answer-{i}", code, profiles=spec(timeout=0.5, retries=1), reply=reply)
      for i, (reply, code) in enumerate(ANSWERS)],
    Case("connection-refused", 5, profiles=spec(token_url="http://127.0.0.1:9/token")),
    # usage
    Case("unknown-option", 2, ("-c", "p.yaml", "refresh", "p", "--frobnicate"), profiles=spec()),
]  # fmt: skip


def run_case_script(where: Path, args: tuple[str, ...], env: dict[str, str], stdin: str) -> Result:
    full_env = {**os.environ, "OAUTHCLI_STATE_DIR": str(where / "state"), **env}
    full_env.pop("OAUTHCLI_CONFIG", None) if "OAUTHCLI_CONFIG" not in env else None
    done = subprocess.run([SCRIPT, *args], input=stdin, capture_output=True, text=True,
                          timeout=45, env=full_env, cwd=where)  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


def _run(case: Case, where: Path, server: LoopbackServer) -> Result:
    where.mkdir()
    url = server.url(f"/{case.name}")
    if case.reply is not None:
        server.reply(f"/{case.name}", case.reply)
    if case.profiles is not None:
        text = case.profiles if isinstance(case.profiles, str) else yaml.safe_dump(case.profiles)
        (where / "p.yaml").write_text(text.replace("'{server}'", url).replace("{server}", url))
    if case.prepare is not None:
        case.prepare(where)
    return run_case_script(where, case.args, case.env, case.stdin)


def test_no_bad_input_exits_70_or_hangs(tmp_path: Path, server: LoopbackServer) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {c.name: pool.submit(_run, c, tmp_path / c.name, server) for c in CASES}
        results = {name: future.result() for name, future in futures.items()}
    wrong = []
    for case in CASES:
        result = results[case.name]
        lines = result.stderr.splitlines()
        clean = (
            result.code == case.code
            and result.stdout == ""
            and lines[:1] != [] and lines[0].startswith("error: ")
            and sum(line.startswith("error: ") for line in lines) == 1
            and PLANTED not in result.stdout + result.stderr
            and "Traceback" not in result.stderr
        )  # fmt: skip
        if not clean:
            wrong.append((case.name, case.code, result))
    assert [name for name, result in results.items() if result.code == 70] == []
    assert wrong == [], "\n".join(
        f"{name} (expected {code}): {result}" for name, code, result in wrong
    )


def test_a_deeply_nested_json_answer_is_not_an_internal_error(
    tmp_path: Path, server: LoopbackServer
) -> None:
    deep = Response(200, "[" * 100000 + "]" * 100000, {"Content-Type": "application/json"})
    case = Case("deep-json", 6, profiles=spec(), reply=deep)
    result = _run(case, tmp_path / case.name, server)
    assert result.code == 6, result


def test_a_deeply_nested_json_body_string_is_not_an_internal_error(
    tmp_path: Path, server: LoopbackServer
) -> None:
    body = '{"a": ' + "[" * 50000 + "]" * 50000 + "}"
    profiles = spec(headers={"Content-Type": "application/json"}, body=body,
                    auth={"type": "post", "client_id": "c", "client_secret": "s"})  # fmt: skip
    case = Case("deep-json-body", 3, ("-c", "p.yaml", "refresh", "p", "--dry-run"), profiles)
    assert _run(case, tmp_path / case.name, server).code != 70
