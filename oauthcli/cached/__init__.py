"""The cached route: `token` (every format), `env` and `git-credential … get` answered from the
store without loading the rest of oauthcli (SPEC §8).

kubectl runs its exec credential plugin before every command and git its credential helper
before every fetch, so this is the path paid thousands of times a day. It reads what the full
path wrote — the index of the parsed profiles file (``index.py``), the grant's state file or a
shared store's local copy — with the standard library's ``json`` and ``os`` alone, and answers
only when it is certain that the full path would print the same thing. Anything else (a stale
token, an option it does not know, an encrypted store, a reference it cannot resolve from the
environment, any doubt about a file) hands the run to the full path, which decides, refreshes
and reports errors through the one ladder. ``tests/test_fastpath.py`` checks both agree and
lists every module this route may import.
"""
