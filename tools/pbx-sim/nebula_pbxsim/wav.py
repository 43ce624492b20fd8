"""A small valid WAV for a stored recording: 8 kHz, 16-bit mono, a quiet two-tone murmur (media is not simulated)."""

from __future__ import annotations

import io
import math
import struct
import wave

RATE = 8000


def recording_wav(duration_s: float, max_seconds: float = 30.0) -> bytes:
    """The bytes of a WAV lasting `duration_s` (capped at `max_seconds`)."""
    frames = int(RATE * max(0.0, min(duration_s, max_seconds)))
    period = RATE  # one second of pattern, repeated
    pattern = [
        int(1200 * math.sin(2 * math.pi * 440 * i / RATE) + 800 * math.sin(2 * math.pi * 660 * i / RATE))
        for i in range(period)
    ]
    one_second = struct.pack(f"<{period}h", *pattern)
    whole, rest = divmod(frames, period)
    pcm = one_second * whole + one_second[: rest * 2]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    return buf.getvalue()
