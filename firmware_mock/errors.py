"""The one exception the pump's model raises to refuse a request: it becomes a NAK frame."""


class Refusal(Exception):
    """NAK payload values: error code, subject, limit_value, actual_value (spec.ERROR_LAYOUT)."""

    def __init__(self, code, subject=0, limit_value=0, actual_value=0):
        super().__init__(code)
        self.code = code
        self.subject = subject
        self.limit_value = limit_value
        self.actual_value = actual_value
