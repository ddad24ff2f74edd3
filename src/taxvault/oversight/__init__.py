"""Oversight: detect browsing (UNAX), review its alerts, tell the taxpayer.

Detectors (``detect/``, ``scan.py``) read the audit log and raise alerts through
:mod:`taxvault.oversight.alerts`; reviewers work the queue (:mod:`.review`), every
change through the door and audited; a confirmed UNAX sends the taxpayer a letter
(:mod:`.letters`).
"""
