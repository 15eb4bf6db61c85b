"""What `oauthcli login` needs besides the grants: PKCE and random values, the loopback redirect
listener (RFC 8252), the check of the authorization response, and the run that ties a login
flow (grants.authcode, grants.device) to the store. Imports none of its submodules.
"""
