"""Phone numbers as the carrier trunk presents them: national digits at home, 00 + E.164 abroad."""

from __future__ import annotations

import phonenumbers


class InvalidNumber(ValueError):
    """A number that is not a valid phone number."""


def parse_e164(raw: str, region: str = "TR") -> str:
    """Normalize `raw` (E.164, or national digits of `region`) to E.164, or raise InvalidNumber."""
    text = raw.strip()
    if not text:
        raise InvalidNumber("empty number")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(str(exc)) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(f"not a possible phone number: {raw!r}")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def carrier_digits(e164: str, region: str = "TR") -> str:
    """How the carrier sends `e164` in SIP: `+908501234567` -> `08501234567`, `+4930123` -> `004930123`."""
    parsed = phonenumbers.parse(e164, region)
    if parsed.country_code == phonenumbers.country_code_for_region(region):
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        return "".join(ch for ch in national if ch.isdigit())
    return "00" + e164.lstrip("+")


def from_dialstring(user: str, region: str = "TR") -> str | None:
    """The E.164 number behind digits the PBX dialled on the trunk, None if they are not a number."""
    digits = "".join(ch for ch in user if ch.isdigit() or ch == "+")
    if not digits:
        return None
    try:
        return parse_e164(digits, region)
    except InvalidNumber:
        return None
