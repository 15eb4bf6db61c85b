"""The stored state of one grant: its token, the rotated refresh token, and a generation."""


import json
from typing import Any, NamedTuple

from oauthcli.scrub import scrub
from oauthcli.token import Token

VERSION = 1


def fingerprint(refresh_token: str | None) -> str | None:
    if not refresh_token:
        return None
    import hashlib  # here, not at the top: OpenSSL's start-up is off the cached token path

    return hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()[:32]


class State(NamedTuple):
    token: Token
    rotated_refresh_token: str | None = None
    refresh_token_fingerprint: str | None = None  # of the configured initial refresh token
    generation: int = 0  # bumped by every write: the compare-and-swap counter

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self._asdict()
        data["token"] = self.token.to_dict()
        data["version"] = VERSION
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> "State":
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError("not a state file of this version")
        generation = data.get("generation", 0)
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise ValueError("bad generation")
        rotated, fp = data.get("rotated_refresh_token"), data.get("refresh_token_fingerprint")
        if not isinstance(rotated, (str, type(None))) or not isinstance(fp, (str, type(None))):
            raise ValueError("bad refresh token fields")
        if not isinstance(data.get("token"), dict):
            raise ValueError("no token")
        return cls(Token.from_dict(data["token"]), rotated, fp, generation)

    @classmethod
    def from_json(cls, text: str | bytes) -> "State":
        return cls.from_dict(json.loads(text))

    def with_generation(self, generation: int) -> "State":
        return self._replace(generation=generation)

    def without_refresh_tokens(self) -> "State":
        """For copies that only answer while fresh: no refresh token anywhere in it."""
        secrets = {t for t in (self.rotated_refresh_token, self.token.refresh_token) if t}
        response = scrub(dict(self.token.response), secrets)
        assert isinstance(response, dict)  # scrub keeps a mapping a mapping
        token = self.token._replace(refresh_token=None, response=response)
        return self._replace(token=token, rotated_refresh_token=None)

    def current_refresh_token(self, configured: str | None) -> str | None:
        """The rotated token, unless a person has configured a different one since."""
        if self.rotated_refresh_token and self.refresh_token_fingerprint == fingerprint(configured):
            return self.rotated_refresh_token
        return configured or self.rotated_refresh_token

