"""DOT's validator plus what the installed oauthlib needs for the device grant.

oauthlib 4 asks the validator for ``validate_device_code`` when a device polls with an
approved code; DOT 3.4.1's ``OAuth2Validator`` does not implement it (its TokenView
answers pending/denied/expired itself and only hands *approved* codes to oauthlib),
so without this the approved poll is a 500 (NotImplementedError).
"""

from __future__ import annotations

from oauth2_provider.models import get_device_grant_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc8628.grant_types import DeviceCodeGrant

_STATUS = {
    "authorized": DeviceCodeGrant.DEVICE_CODE_AUTHORIZED,
    "authorization-pending": DeviceCodeGrant.DEVICE_CODE_PENDING,
    "expired": DeviceCodeGrant.DEVICE_CODE_EXPIRED,
    "denied": DeviceCodeGrant.DEVICE_CODE_DENIED,
}


class Validator(OAuth2Validator):
    def validate_device_code(self, client_id, code, request, *args, **kwargs):
        grant = get_device_grant_model().objects.filter(device_code=code).first()
        client = getattr(request, "client", None)
        if grant is None or client is None or grant.client_id != client.client_id:
            return None  # unknown code, or issued to another client: invalid_grant
        if grant.is_expired():
            return DeviceCodeGrant.DEVICE_CODE_EXPIRED
        request.user = grant.user
        request.scopes = grant.scope.split() if grant.scope else []
        return _STATUS.get(grant.status)
