"""taxvault: one secure API over every record of a tax agency.

Need-to-know on every read, a tamper-evident record of every access, grants that
expire, detection of browsing, and a report to each taxpayer of who looked.
See docs/architecture.md for the architecture (one door to protected data: access/door.py).
"""

__version__ = "0.1.0"
