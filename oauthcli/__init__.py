"""oauthcli: turn a refresh token (or any token-endpoint grant) into a fresh access token."""

__version__ = "0.1.0"
