"""Q.850 hangup causes, ARI hangup reasons and the SIP codes that go with them, as Asterisk 22 uses them."""

from __future__ import annotations

# ast_cause2str() texts for the causes the simulator can produce.
CAUSE_TEXT: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}

# DELETE /channels/{id}?reason=... (the list in api-docs/channels.json).
HANGUP_REASONS: dict[str, int] = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 18,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}

# Soft-hangup flags that ChannelHangupRequest carries in `cause` when `soft` is true (surprise 1).
SOFTHANGUP_EXPLICIT = 32
SOFTHANGUP_APPUNLOAD = 16

# Q.850 cause -> SIP final response chan_pjsip sends on an unanswered leg. Causes not listed fall back
# to 603 and carry no tech_cause (README surprise 6: normal -> 603, busy -> 486, no_answer -> 480).
CAUSE_TO_SIP: dict[int, int] = {
    1: 404,
    3: 404,
    17: 486,
    18: 408,
    19: 480,
    20: 480,
    21: 403,
    27: 502,
    28: 484,
    31: 480,
    34: 503,
    38: 500,
    58: 488,
    127: 500,
}

# SIP final response from a far end -> Q.850 cause (486 -> 17, 603 -> 21 as the traces show).
SIP_TO_CAUSE: dict[int, int] = {
    404: 1,
    408: 18,
    410: 22,
    480: 19,
    484: 28,
    486: 17,
    487: 16,
    488: 58,
    500: 38,
    502: 27,
    503: 34,
    600: 17,
    603: 21,
}


def cause_text(cause: int) -> str:
    """The `cause_txt` Asterisk puts next to a cause."""
    return CAUSE_TEXT.get(cause, "Unknown")


def sip_for_cause(cause: int) -> int | None:
    """The SIP response for an unanswered leg hung up with `cause`, None when it is the 603 fallback."""
    return CAUSE_TO_SIP.get(cause)


def cause_for_sip(code: int) -> int:
    """The Q.850 cause Asterisk derives from a far end's SIP final response."""
    if code in SIP_TO_CAUSE:
        return SIP_TO_CAUSE[code]
    if 400 <= code < 500:
        return 127
    if 500 <= code < 600:
        return 38
    return 21


def dial_status(cause: int) -> str:
    """The Dial event `dialstatus` for a failed dial; 603/21 is NOANSWER, not BUSY (surprise 5)."""
    if cause == 17:
        return "BUSY"
    if cause in (34, 38, 42, 27):
        return "CONGESTION"
    if cause in (1, 3, 20):
        return "CHANUNAVAIL"
    return "NOANSWER"
