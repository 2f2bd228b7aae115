"""pyserial URL handlers for pumpmock's own schemes: one module per scheme (protocol_<scheme>.py)."""
