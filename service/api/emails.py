"""Email keys: validated and lower-cased before they reach SQL."""

from __future__ import annotations

import re

from service.problems import invalid_field

# Deliberately simple: one '@', no spaces, a dot in the domain. Deliverability is not ours to
# judge; a key that cannot be an address is.
_EMAIL = re.compile(r"^[^@\s\x00]{1,64}@[^@\s\x00]+\.[^@\s\x00]+$")
MAX_EMAIL_LENGTH = 254


def normalise_email(value: str, field: str = "email") -> str:
    email = value.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise invalid_field(field, "must be an email address like name@example.com")
    return email
