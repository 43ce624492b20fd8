"""Errors the simulator answers with: ARI's own `{"message": ...}` and the control API's field errors."""

from __future__ import annotations


class AriError(Exception):
    """An ARI error response, worded as Asterisk words it."""

    def __init__(self, status: int, message: str, key: str = "message") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        # Most errors are {"message": ...}; ast_ari_response_alloc_failed answers {"error": "Allocation failed"}.
        self.key = key


class ControlError(Exception):
    """A control-API error: HTTP status, a short code, a message and the field at fault (if any)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, str]:
        """The JSON body."""
        out = {"error": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out
