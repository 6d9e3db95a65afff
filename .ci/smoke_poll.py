"""What the boto3 smoke scripts share: waiting for a condition with a deadline."""

import sys
import time


def eventually(label, what, check, within=20.0):
    """Polls `check` until it returns a true value, or ends the script with
    `label: what not seen` after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            sys.exit(f"{label}: {what} not seen within {within} s")
        time.sleep(0.1)


def eventually_answered(label, what, check, errors, within=30.0):
    """`eventually`, an exception of `errors` (an error answer, such as
    botocore's ClientError) counting as not yet."""

    def tolerant():
        try:
            return check()
        except errors:
            return None

    return eventually(label, what, tolerant, within)
