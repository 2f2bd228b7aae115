"""The team's own protocol package (the name a programmer app would naturally use).

It wraps pumpmock's codec; the point is that a package called `protocol` in the user's
repository and pumpmock's `pumpmock.protocol` live side by side.
"""

from .link import PumpLink, LinkFailed

__all__ = ["PumpLink", "LinkFailed"]
