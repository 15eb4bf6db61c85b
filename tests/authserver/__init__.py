"""A real OAuth 2.0 authorization server (django-oauth-toolkit) for the test suite.

Run by the ``auth_server`` fixture in :mod:`tests.authserver.plugin` as a subprocess
(``python -m tests.authserver.serve``); nothing here is imported by ``oauthcli``.
"""
